"""Arguments several sub-commands share (which model, --xla) and the CLI's one-line warnings."""

import argparse
import contextlib
import sys
import warnings


def add_model_arguments(parser, allow_export=True, allow_tflite=False, allow_ensemble=False):
    """`--run-dir DIR` (repeated for an ensemble if allow_ensemble), `--model saved_models/NAME` (if allow_export)
    or `--tflite FILE` (if allow_tflite): exactly one kind is required (`source_of` turns it into a
    `translators.Source`)."""
    group = parser.add_mutually_exclusive_group(required=True)
    if allow_ensemble:
        group.add_argument("--run-dir", metavar="DIR", action="append",
                           help="a `tf-transformer train` run directory; repeat it to decode several runs of the "
                                "same vocabularies as one ensemble (the mean of their next-token probabilities)")
    else:
        group.add_argument("--run-dir", metavar="DIR", action=OneRunDir, help="a `tf-transformer train` run directory")
    if allow_export:
        group.add_argument("--model", metavar="PATH",
                           help="an export: saved_models/NAME (its latest version) or one version directory")
    if allow_tflite:
        group.add_argument("--tflite", metavar="FILE", help="a .tflite from `tf-transformer tflite`, run on LiteRT")


class OneRunDir(argparse.Action):
    """`--run-dir` of a command that reads one model: given twice it is a usage error, not the last one silently
    (translate, evaluate and export take it repeated, as an ensemble)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} given twice; this command reads one run (translate, evaluate and export "
                         "take several --run-dir as one ensemble)")
        setattr(namespace, self.dest, values)


def source_of(args):
    """The `translators.Source` of the arguments of `add_model_arguments`."""
    from tf_transformer.translators import Source

    run_dirs = [args.run_dir] if isinstance(args.run_dir, str) else args.run_dir or [None]
    return Source(run_dir=run_dirs[0], model=getattr(args, "model", None), tflite=getattr(args, "tflite", None),
                  ensemble=tuple(run_dirs[1:]))


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
