"""Arguments several sub-commands share (which model, --xla) and the CLI's one-line warnings."""

import argparse
import contextlib
import sys
import warnings


def add_model_arguments(parser, allow_export=True, allow_tflite=False):
    """`--run-dir DIR`, `--model saved_models/NAME` (if allow_export) or `--tflite FILE` (if allow_tflite):
    exactly one is required (`source_of` turns it into a `translators.Source`)."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--run-dir", metavar="DIR", help="a `tf-transformer train` run directory")
    if allow_export:
        group.add_argument("--model", metavar="PATH",
                           help="an export: saved_models/NAME (its latest version) or one version directory")
    if allow_tflite:
        group.add_argument("--tflite", metavar="FILE", help="a .tflite from `tf-transformer tflite`, run on LiteRT")


def source_of(args):
    """The `translators.Source` of the arguments of `add_model_arguments`."""
    from tf_transformer.translators import Source

    return Source(run_dir=args.run_dir, model=getattr(args, "model", None), tflite=getattr(args, "tflite", None))


def add_xla_argument(parser):
    """`--xla` / `--no-xla` (dest jit_compile, default None = the recipe's decoding.jit_compile)."""
    parser.add_argument("--xla", dest="jit_compile", action=argparse.BooleanOptionalAction,
                        help="compile decoding with XLA: faster steps, but 1-5 s of compilation per batch/length "
                             "bucket; pays off for long outputs (default: the recipe's decoding.jit_compile)")


@contextlib.contextmanager
def one_line_warnings():
    """Inside: Python warnings (e.g. `TruncationWarning` for over-long inputs) print as `warning: ...` on stderr."""
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *_, **__: print(f"warning: {message}", file=sys.stderr)
        yield
