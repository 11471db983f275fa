"""`tf-transformer translate (--run-dir DIR | --model saved_models/NAME | --tflite FILE) [TEXT ...]`: text in,
text out.

Reads the texts from the arguments, from `--input FILE` (one per line) or from stdin; writes one translation per
line to stdout or `--output FILE` (empty lines stay empty lines, so line counts match). Inputs are sorted by
length into batches of `--batch-size` and written back in input order; files show a progress bar on stderr.

`--tflite FILE` runs a file of `tf-transformer tflite` on LiteRT, with the decoding it was converted with.
A repeated `--run-dir` decodes the runs as one ensemble: the mean of their next-token distributions
(`tf_transformer.ensemble`).

Decoding: a run directory decodes with its recipe's beam size by default (`decoding.beam_size`), or
`--beam-size K` (1 = greedy), `--n-best N` (N lines `LINE<TAB>TRANSLATION<TAB>SCORE` per input), or
`--sample` with `--temperature`, `--top-k`, `--top-p`, `--seed`. An export runs its `serving_default` signature
(the decoding it was exported with) or, with `--beam-size 1`, its `greedy` signature; other options need
`--run-dir`. `--scores` appends `<TAB>SCORE` (log-probability, length-penalised for beam search) to each line.
"""

import dataclasses
import os
import sys

from tf_transformer.commands.arguments import add_model_arguments, add_xla_argument, one_line_warnings, source_of
from tf_transformer.errors import ConfigError, DataError


def add_parser(subparsers):
    parser = subparsers.add_parser("translate", help="translate text with a run directory or an exported model",
                                   description=__doc__)
    add_model_arguments(parser, allow_tflite=True, allow_ensemble=True)
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


def run(args):
    from tf_transformer.translation import translate_texts
    from tf_transformer.translators import load_translator

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    request = decoding_request_of(args)  # out-of-range values before what an export or a .tflite decodes with
    texts, _ = read_inputs(args)  # input mistakes fail before the model loads
    with one_line_warnings():
        translator = load_translator(source_of(args), request)
        results = translate_texts(translator, texts, args.batch_size,
                                  progress=bool(args.input) and not args.quiet)
    write_outputs(results, args.output, scores=args.scores)
    return 0


def decoding_request_of(args):
    """The `translators.DecodingRequest` of the decoding options (ConfigError for --beam-size/--n-best < 1)."""
    from tf_transformer.translators import DecodingRequest

    return DecodingRequest(**{field.name: getattr(args, field.name) for field in dataclasses.fields(DecodingRequest)})


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
