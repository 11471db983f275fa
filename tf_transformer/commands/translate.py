"""`tf-transformer translate (--run-dir DIR | --model saved_models/NAME | --tflite FILE) [TEXT ...]`: text in,
text out.

Reads the texts from the arguments, from `--input FILE` (one per line) or from stdin; writes one translation per
line to stdout or `--output FILE` (empty lines stay empty lines, so line counts match). Inputs are sorted by
length into batches of `--batch-size` and written back in input order; files show a progress bar on stderr.

`--tflite FILE` runs a file of `tf-transformer tflite` on LiteRT, with the decoding it was converted with.

Decoding: a run directory decodes with its recipe's beam size by default (`decoding.beam_size`), or
`--beam-size K` (1 = greedy), `--n-best N` (N lines `LINE<TAB>TRANSLATION<TAB>SCORE` per input), or
`--sample` with `--temperature`, `--top-k`, `--top-p`, `--seed`. An export runs its `serving_default` signature
(the decoding it was exported with) or, with `--beam-size 1`, its `greedy` signature; other options need
`--run-dir`. `--scores` appends `<TAB>SCORE` (log-probability, length-penalised for beam search) to each line.
"""

import argparse
import contextlib
import dataclasses
import os
import sys
import warnings

from tf_transformer.errors import ConfigError, DataError, ModelPathError

SAMPLING_OPTIONS = ("temperature", "top_k", "top_p", "seed")


def add_parser(subparsers):
    parser = subparsers.add_parser("translate", help="translate text with a run directory or an exported model",
                                   description=__doc__)
    add_model_arguments(parser, allow_tflite=True)
    parser.add_argument("text", nargs="*", help="texts to translate (default: --input FILE, else stdin)")
    parser.add_argument("--input", metavar="FILE", help="UTF-8 text file, one input per line")
    parser.add_argument("--output", metavar="FILE", help="write the translations here (default: stdout)")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per decoding batch (default 64)")
    parser.add_argument("--beam-size", type=int, help="beam size; 1 = greedy (default: the recipe's)")
    parser.add_argument("--n-best", type=int, default=1, help="hypotheses per input, best first (beam search)")
    parser.add_argument("--length-penalty", type=float, help="beam search α of ((5+L)/6)^α (default: recipe's)")
    parser.add_argument("--max-extra-length", type=int,
                        help="decode at most source length + N tokens (default: the recipe's)")
    parser.add_argument("--sample", action="store_true", help="sample instead of searching")
    parser.add_argument("--temperature", type=float, help="sampling temperature > 0 (default 1)")
    parser.add_argument("--top-k", type=int, help="sample from the k most probable tokens (default 0 = all)")
    parser.add_argument("--top-p", type=float, help="sample from the top-p nucleus (default 1 = all)")
    parser.add_argument("--seed", type=int, help="seed for repeatable sampling")
    add_xla_argument(parser)
    parser.add_argument("--scores", action="store_true", help="append <TAB>score to every output line")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def add_model_arguments(parser, allow_export=True, allow_tflite=False):
    """`--run-dir DIR`, `--model saved_models/NAME` (if allow_export) or `--tflite FILE` (if allow_tflite):
    exactly one is required."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--run-dir", metavar="DIR", help="a `tf-transformer train` run directory")
    if allow_export:
        group.add_argument("--model", metavar="PATH",
                           help="an export: saved_models/NAME (its latest version) or one version directory")
    if allow_tflite:
        group.add_argument("--tflite", metavar="FILE", help="a .tflite from `tf-transformer tflite`, run on LiteRT")


def add_xla_argument(parser):
    """`--xla` / `--no-xla` (dest jit_compile, default None = the recipe's decoding.jit_compile)."""
    parser.add_argument("--xla", dest="jit_compile", action=argparse.BooleanOptionalAction,
                        help="compile decoding with XLA: faster steps, but 1-5 s of compilation per batch/length "
                             "bucket; pays off for long outputs (default: the recipe's decoding.jit_compile)")


def jit_compile_of(args, recipe):
    """Whether --run-dir decoding compiles with XLA: --xla/--no-xla if given, else the recipe's decoding."""
    return recipe.decoding.jit_compile if args.jit_compile is None else args.jit_compile


def run(args):
    from tf_transformer.translation import translate_texts

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.beam_size is not None and args.beam_size < 1:  # before what an export or a .tflite can decode with
        raise ConfigError(f"--beam-size must be >= 1 (1 = greedy), got {args.beam_size}")
    if args.n_best < 1:
        raise ConfigError(f"--n-best must be >= 1, got {args.n_best}")
    texts, _ = read_inputs(args)  # input mistakes fail before the model loads
    with one_line_warnings():
        translator = (tflite_translator(args) if args.tflite else export_translator(args) if args.model
                      else run_dir_translator(args))
        results = translate_texts(translator, texts, args.batch_size,
                                  progress=bool(args.input) and not args.quiet)
    write_outputs(results, args.output, scores=args.scores)
    return 0


@contextlib.contextmanager
def one_line_warnings():
    """Inside: Python warnings (e.g. `TruncationWarning` for over-long inputs) print as `warning: ...` on stderr."""
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *_, **__: print(f"warning: {message}", file=sys.stderr)
        yield


# ---- inputs and outputs ----------------------------------------------------------------------------------------


def read_inputs(args):
    """(texts, where they came from): the arguments, else the --input file, else stdin, one text per line."""
    if args.text:
        if args.input:
            raise ConfigError("give the texts either as arguments or with --input FILE, not both")
        return list(args.text), "arguments"
    if args.input:
        return read_text_lines(args.input), args.input
    stdin = sys.stdin
    if stdin is None or stdin.isatty():
        raise ConfigError("nothing to translate: pass texts as arguments, --input FILE, or pipe lines on stdin")
    data = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read().encode("utf-8")
    return decode_lines(data, "<stdin>"), "<stdin>"


def read_text_lines(path):
    """The lines of a UTF-8 text file (without line ends; a UTF-8 BOM is dropped).

    Raises:
        DataError: missing, a directory, empty (no lines at all), or not UTF-8 (naming the line).
    """
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        raise DataError(f"{path}: input file not found; check the --input path") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory; --input takes a text file with one input per line") from None
    return decode_lines(data, path)


def decode_lines(data, name):
    """bytes -> list of str lines ('\\n' or '\\r\\n' ends); DataError if empty or not UTF-8 (with the line)."""
    if not data:
        raise DataError(f"{name}: the input is empty; give one text per line (an empty line translates to an "
                        "empty line)")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    texts = []
    for number, raw in enumerate(lines, start=1):
        raw = raw.rstrip(b"\r")
        try:
            texts.append(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise DataError(f"{name}:{number}: not valid UTF-8 (byte 0x{raw[error.start]:02x} at column "
                            f"{error.start + 1}); convert it, e.g. `iconv -f latin1 -t utf-8`") from None
    return texts


def write_outputs(results, path, scores=False):
    """Write one line per result: `translation[<TAB>score]`, or for n-best lists `LINE<TAB>translation<TAB>score`
    per hypothesis (LINE = 1-based input number)."""
    lines = []
    for number, result in enumerate(results, start=1):
        if isinstance(result, list):
            lines.extend(f"{number}\t{text}\t{score:.4f}" for text, score in result)
        else:
            text, score = result
            lines.append(f"{text}\t{score:.4f}" if scores else text)
    output = "".join(line + "\n" for line in lines)
    if path is None:
        sys.stdout.write(output)
        sys.stdout.flush()
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise DataError(f"{path}: the output directory {directory} does not exist; create it or pick another "
                        "--output")
    with open(path, "w", encoding="utf-8") as file:
        file.write(output)


# ---- translating -----------------------------------------------------------------------------------------------


class ExportTranslator:
    """One signature of a SavedModel export: `text` tf.string [B] -> `translation` tf.string [B], `score` [B]."""

    n_best = 1
    jit_compile = False  # an export runs its SavedModel graph

    def __init__(self, path, signature):
        import tensorflow as tf

        self.tf = tf
        self.loaded = load_export(path, signature)  # keep the module: its signatures use its variables
        self.function = self.loaded.signatures[signature]

    def translate_batch(self, texts):
        outputs = self.function(text=self.tf.constant(texts, self.tf.string))
        translations = [text.decode("utf-8") for text in outputs["translation"].numpy()]
        return list(zip(translations, [float(score) for score in outputs["score"].numpy()]))


def load_export(path, signature):
    """The SavedModel at `path` (a version directory), loaded, after checking that it has `signature`.

    Raises:
        ModelPathError: the SavedModel does not load, or has no such signature (both say how to re-export).
    """
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizers' ops before loading)

    try:
        loaded = tf.saved_model.load(path)
    except (OSError, ValueError) as error:
        raise ModelPathError(f"{path}: cannot load the SavedModel ({str(error).splitlines()[0]}); export it "
                             "again with `tf-transformer export`") from None
    if signature not in loaded.signatures:
        raise ModelPathError(f"{path}: the export has no {signature!r} signature (it has "
                             f"{', '.join(sorted(loaded.signatures)) or 'none'}); export it again with "
                             "`tf-transformer export`, or use --run-dir")
    return loaded


def export_translator(args):
    """An `ExportTranslator` for `--model`; options an export cannot honour are one-line `ConfigError`s."""
    from tf_transformer.export import latest_version

    path = latest_version(args.model)
    exported_beam = export_beam_size(path)
    given = fixed_decoding_conflicts(args, (None, 1, exported_beam))
    if given:
        beam = f"beam size {exported_beam}" if exported_beam else "its own decoding"
        raise ConfigError(f"{given[0]} is not possible with --model {args.model}: an export decodes with {beam} "
                          "(serving_default) or greedily (--beam-size 1); use --run-dir DIR for other options")
    return ExportTranslator(path, "greedy" if args.beam_size == 1 else "serving_default")


def tflite_translator(args):
    """A `LiteRTTranslator` for `--tflite`; options the file cannot honour are one-line `ConfigError`s."""
    from tf_transformer.export.litert import LiteRTTranslator

    translator = LiteRTTranslator(args.tflite)
    if translator.ids_only:
        raise ConfigError(f"{args.tflite}: an --ids-only file takes ids, not text; convert one without --ids-only")
    beam = tflite_beam_size(translator)
    given = fixed_decoding_conflicts(args, (None, beam))
    if given:
        decoding = f"beam size {beam}" if beam > 1 else "greedy decoding"
        raise ConfigError(f"{given[0]} is not possible with --tflite {args.tflite}: the file decodes with "
                          f"{decoding}; convert another with `tf-transformer tflite --decoding ...`, or use "
                          "--run-dir DIR")
    return translator


def tflite_beam_size(translator):
    """The beam size a `LiteRTTranslator`'s file decodes with (1: greedy), from its metadata."""
    facts = translator.facts
    return int(facts.get("options", {}).get("beam_size", 1)) if facts.get("decoding") == "beam" else 1


def fixed_decoding_conflicts(args, beams):
    """The decoding options in `args` that a model with fixed decoding (an export, a .tflite) cannot honour,
    most important first; `beams` are the --beam-size values it can (None: not given)."""
    given = [f"--{name.replace('_', '-')}" for name in ("length_penalty", "max_extra_length", *SAMPLING_OPTIONS)
             if getattr(args, name) is not None]
    if args.sample:
        given.insert(0, "--sample")
    if args.jit_compile is not None:
        given.insert(0, "--xla" if args.jit_compile else "--no-xla")
    if getattr(args, "n_best", 1) != 1:
        given.insert(0, "--n-best")
    if args.beam_size not in beams:
        given.insert(0, f"--beam-size {args.beam_size}")
    return given


def export_beam_size(path):
    """The beam size of an export's serving_default (from assets.extra/tf_transformer.json), None if unknown."""
    import json

    try:
        with open(os.path.join(path, "assets.extra", "tf_transformer.json"), encoding="utf-8") as file:
            return int(json.load(file)["decoding"]["beam_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_dir_translator(args):
    """A `Translator` for `--run-dir` with the method and options the arguments and the recipe give."""
    from tf_transformer.config import load_recipe
    from tf_transformer.translation import Translator

    recipe = os.path.join(str(args.run_dir), "recipe.yaml")
    if os.path.isfile(recipe):
        decoding_options(args, load_recipe(recipe))  # option mistakes fail before the model loads
    run = load_run_dir(args.run_dir)
    method, options = decoding_options(args, run.recipe)
    return Translator(run.model, run.source_tokenizer, run.target_tokenizer, method, jit_compile_of(args, run.recipe),
                      **options)


def load_run_dir(run_dir):
    """`tf_transformer.run_dir.load_run`, pointing to --model when `run_dir` is an export."""
    from tf_transformer.run_dir import load_run

    if not os.path.isdir(run_dir):
        raise ModelPathError(f"{run_dir}: no such run directory; pass the --run-dir of a `tf-transformer train` run")
    if os.path.isfile(os.path.join(run_dir, "saved_model.pb")) or any(
            name.isdigit() for name in os.listdir(run_dir)):
        raise ModelPathError(f"{run_dir}: this is an export, not a run directory; pass it as --model {run_dir}")
    return load_run(run_dir)


def decoding_options(args, recipe):
    """(method, options) for `Translator` from the command's arguments, defaulting to the recipe's decoding.

    Raises:
        ConfigError: contradictory options (sampling options without --sample, --sample with a beam, n-best
            without a beam that holds it).
    """
    from tf_transformer.decoding import decoding_method

    decoding = recipe.decoding
    extra = decoding.max_extra_length if args.max_extra_length is None else args.max_extra_length
    if extra < 0:
        raise ConfigError(f"--max-extra-length must be >= 0, got {extra}")
    given_sampling = [name for name in SAMPLING_OPTIONS if getattr(args, name) is not None]
    if args.sample:
        if args.beam_size not in (None, 1) or args.n_best != 1:
            raise ConfigError("--sample draws one output per input; drop --beam-size/--n-best, or drop --sample")
        options = {name: getattr(args, name) for name in given_sampling}
        return "sample", {**options, "max_extra_length": extra}
    if given_sampling:
        raise ConfigError(f"--{given_sampling[0].replace('_', '-')} is a sampling option; add --sample")
    beam_size = args.beam_size if args.beam_size is not None else max(decoding.beam_size, args.n_best)
    if args.n_best > beam_size:
        raise ConfigError(f"--n-best {args.n_best} needs a beam at least that wide; add --beam-size {args.n_best}")
    penalty = decoding.length_penalty if args.length_penalty is None else args.length_penalty
    method, options = decoding_method(dataclasses.replace(decoding, beam_size=beam_size, length_penalty=penalty,
                                                          max_extra_length=extra))
    return method, ({**options, "n_best": args.n_best} if method == "beam" else options)
