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

from tf_transformer.commands.arguments import add_model_arguments, add_xla_argument, one_line_warnings, source_of


def add_parser(subparsers):
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
    from tf_transformer.data import load_corpus
    from tf_transformer.errors import ConfigError, DataError
    from tf_transformer.evaluation import LOWER_IS_BETTER, primary_metric, scores_for, task_of
    from tf_transformer.translation import translate_texts
    from tf_transformer.translators import evaluation_translators

    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {args.limit}")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        raise DataError(f"{args.json}: its directory does not exist; create it or pick another --json path")
    recipe, translators = evaluation_translators(source_of(args), args.beam_size, args.jit_compile)
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
