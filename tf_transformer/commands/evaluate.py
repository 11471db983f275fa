"""`tf-transformer evaluate (--run-dir DIR | --model saved_models/NAME | --tflite FILE) [--split dev|test]
[--beam-size K] [--limit N] [--json FILE]`: score a trained run, or an export of one, on a split of its corpus
with greedy decoding and with beam search: BLEU and chrF (sacrebleu) for translation, WER and PER for
grapheme-to-phoneme (a word is right if it matches any of its pronunciations). An export runs its `greedy` and
`serving_default` signatures and finds the corpus through the recipe it carries (assets.extra/recipe.yaml); a
.tflite (run on LiteRT) scores the one decoding it was converted with, finding the corpus through the recipe in its
metadata."""

import json
import os
import sys
import time


def add_parser(subparsers):
    from tf_transformer.commands.translate import add_model_arguments, add_xla_argument

    parser = subparsers.add_parser("evaluate", help="score a run on its dev or test split (greedy and beam)",
                                   description=__doc__)
    add_model_arguments(parser, allow_tflite=True)
    parser.add_argument("--split", choices=("dev", "test"), default="test", help="which split (default test)")
    parser.add_argument("--beam-size", type=int,
                        help="beam size of the beam row (default: the recipe's, 4 if that is 1); 1 = greedy only")
    parser.add_argument("--limit", type=int, help="only the first N sources of the split")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per decoding batch (default 64)")
    add_xla_argument(parser)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON here")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args):
    from tf_transformer.commands.translate import one_line_warnings
    from tf_transformer.translation import translate_texts
    from tf_transformer.data import load_corpus
    from tf_transformer.errors import ConfigError, DataError
    from tf_transformer.evaluation import LOWER_IS_BETTER, primary_metric, scores_for
    from tf_transformer.trainer import task_of

    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {args.limit}")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.beam_size is not None and args.beam_size < 1:  # before what an export or a .tflite can decode with
        raise ConfigError(f"--beam-size must be >= 1 (1 = greedy only), got {args.beam_size}")
    if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        raise DataError(f"{args.json}: its directory does not exist; create it or pick another --json path")
    recipe, translators = (tflite_translators(args) if args.tflite else export_translators(args) if args.model
                           else run_dir_translators(args))
    task = task_of(recipe)
    grouped = load_corpus(recipe.data).grouped(args.split)[:args.limit]
    where = args.tflite or args.model or args.run_dir
    if not grouped:
        raise DataError(f"{where}: the {args.split} split of corpus {recipe.data.corpus!r} is empty; "
                        "use a larger corpus or the other --split")
    sources, references = [source for source, _ in grouped], [options for _, options in grouped]
    rows = []
    for label, method, options, translator in translators:
        translator.translate_batch(sources[:1])  # trace the decoding function outside the timing (XLA compiles
        # once more for every other batch/length bucket: inside the timing, as a user waits for it)
        start = time.perf_counter()
        with one_line_warnings():
            results = translate_texts(translator, sources, args.batch_size, progress=not args.quiet)
        seconds = time.perf_counter() - start
        hypotheses = [text for text, _ in results]
        rows.append({"decoding": label, "method": method, "options": options,
                     "jit_compile": translator.jit_compile,
                     **scores_for(task, hypotheses, references), "sentences_per_second": len(sources) / seconds})
    metrics = list(scores_for(task, [""], [[""]]))
    print(format_table(rows, metrics, f"{where}  {args.split}: {len(sources)} sources, task {task}"))
    if args.json:
        summary = {"run_dir": args.run_dir and str(args.run_dir), "model": args.model and str(args.model),
                   "tflite": args.tflite and str(args.tflite),
                   "recipe": recipe.name, "split": args.split, "task": task,
                   "sources": len(sources), "primary_metric": primary_metric(task),
                   "lower_is_better": sorted(LOWER_IS_BETTER), "results": rows}
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(summary, file, indent=2)
            file.write("\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def run_dir_translators(args):
    """(recipe, [(label, method, options, Translator)]) for --run-dir: greedy, then beam (see `decoding_rows`)."""
    from tf_transformer.commands.translate import jit_compile_of, load_run_dir
    from tf_transformer.translation import Translator

    run_ = load_run_dir(args.run_dir)
    jit_compile = jit_compile_of(args, run_.recipe)
    return run_.recipe, [(label, method, options, Translator(run_.model, run_.source_tokenizer,
                                                             run_.target_tokenizer, method, jit_compile, **options))
                         for label, method, options in decoding_rows(run_.recipe.decoding, args.beam_size)]


def export_translators(args):
    """(recipe, [(label, method, options, ExportTranslator)]) for --model: its `greedy` signature, then its
    `serving_default` when that is a beam search.

    Raises:
        ModelPathError: the export carries no recipe (exported before assets.extra/recipe.yaml existed).
        ConfigError: --beam-size other than 1 or the export's beam size, or --xla.
    """
    from tf_transformer.commands.translate import ExportTranslator, export_beam_size
    from tf_transformer.config import load_recipe
    from tf_transformer.errors import ConfigError, ModelPathError
    from tf_transformer.export import latest_version
    from tf_transformer.export.saved_model import RECIPE_FILE

    path = latest_version(args.model)
    if not os.path.isfile(os.path.join(path, RECIPE_FILE)):
        raise ModelPathError(f"{path}: the export has no {RECIPE_FILE} to find its corpus (older exports); export "
                             "it again with `tf-transformer export --run-dir DIR`, or evaluate --run-dir DIR")
    recipe = load_recipe(os.path.join(path, RECIPE_FILE))
    beam = export_beam_size(path) or recipe.decoding.beam_size
    if args.beam_size not in (None, 1, beam):
        raise ConfigError(f"--beam-size {args.beam_size} is not possible with --model {args.model}: the export "
                          f"decodes with beam size {beam} or greedily; use --run-dir DIR for other beams")
    if args.jit_compile is not None:
        raise ConfigError(f"--{'' if args.jit_compile else 'no-'}xla is not possible with --model {args.model}: "
                          "an export runs its SavedModel graph; use --run-dir DIR")
    rows = [("greedy", "greedy", {}, ExportTranslator(path, "greedy"))]
    if beam > 1 and args.beam_size != 1:
        rows.append((f"beam {beam}", "beam", {"beam_size": beam}, ExportTranslator(path, "serving_default")))
    return recipe, rows


def tflite_translators(args):
    """(recipe, [(label, method, options, LiteRTTranslator)]) for --tflite: the one decoding the file has,
    labelled with its quantization; the recipe comes from the file's metadata.

    Raises:
        ModelPathError: the file carries no recipe. ConfigError: --beam-size other than the file's, or --xla.
    """
    from tf_transformer.commands.translate import tflite_beam_size
    from tf_transformer.config import Recipe, from_dict
    from tf_transformer.errors import ConfigError, ModelPathError
    from tf_transformer.export.litert import LiteRTTranslator

    translator = LiteRTTranslator(args.tflite)
    facts = translator.facts
    if not facts.get("recipe") or translator.ids_only:
        raise ModelPathError(f"{args.tflite}: the file carries no recipe to find its corpus (or takes ids); convert "
                             "it with `tf-transformer tflite` (text in, text out), or evaluate --run-dir DIR")
    beam = tflite_beam_size(translator)
    if args.beam_size not in (None, beam):
        raise ConfigError(f"--beam-size {args.beam_size} is not possible with --tflite {args.tflite}: the file "
                          f"decodes with {'beam size ' + str(beam) if beam > 1 else 'greedy decoding'}")
    if args.jit_compile is not None:
        raise ConfigError(f"--{'' if args.jit_compile else 'no-'}xla is not possible with --tflite {args.tflite}")
    label = (f"beam {beam}" if beam > 1 else "greedy") + f" (tflite, {facts.get('quantize', 'none')})"
    method = "beam" if beam > 1 else "greedy"
    return from_dict(Recipe, facts["recipe"], where=f"{args.tflite}: recipe"), [
        (label, method, {"beam_size": beam} if beam > 1 else {}, translator)]


def decoding_rows(decoding, beam_size=None):
    """[(label, method, options)]: greedy, then beam search with `beam_size` (default the recipe's, 4 if that is
    1) unless it is 1. `decoding` is the recipe's `DecodingConfig` (length penalty, max_extra_length)."""
    import dataclasses

    from tf_transformer.decoding import decoding_method

    if beam_size is None:
        beam_size = decoding.beam_size if decoding.beam_size > 1 else 4
    rows = [("greedy", *decoding_method(dataclasses.replace(decoding, beam_size=1)))]
    if beam_size > 1:
        rows.append((f"beam {beam_size}", *decoding_method(dataclasses.replace(decoding, beam_size=beam_size))))
    return rows


def format_table(rows, metrics, title):
    """A plain-text table: one row per decoding, one column per metric, then sentences/s (after tracing)."""
    header = ["decoding", *metrics, "sentences/s"]
    body = [[row["decoding"], *(f"{row[name]:.2f}" for name in metrics), f"{row['sentences_per_second']:.1f}"]
            for row in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [title, "  ".join(cell.ljust(width) for cell, width in zip(header, widths)),
             "  ".join("-" * width for width in widths)]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) for line in body]
    return "\n".join(line.rstrip() for line in lines)
