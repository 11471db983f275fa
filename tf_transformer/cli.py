"""The `tf-transformer` command: one sub-command per job (train, translate, export, ...).

Each sub-command lives in `tf_transformer/commands/<name>.py` with `add_parser(subparsers)` and `run(args)`.
Errors a user can fix (`TransformerError`) print as one line and exit with status 2; `--debug` shows the traceback,
debug-level log lines with their time and module, and TensorFlow's native start-up lines (oneDNN, CUDA stubs), which
are otherwise discarded. Results go to stdout; log lines and progress bars to stderr (`reporting.py`).
"""

import argparse
import ctypes
import importlib
import os
import sys

from tf_transformer.commands import COMMANDS
from tf_transformer.errors import TransformerError
from tf_transformer.reporting import configure_logging


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors, like every other error of the CLI (sub-command parsers inherit it)."""

    def error(self, message):
        print(f"error: {self.prog}: {message} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(2)


def build_parser():
    parser = _Parser(prog="tf-transformer", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"tf_transformer.commands.{name}").add_parser(subparsers)
    return parser


def quiet_tensorflow_startup():
    """Import TensorFlow with its native start-up lines discarded: the C++ log level errors-only-fatal
    (TF_CPP_MIN_LOG_LEVEL=3 unless set) and stderr (fd 2) pointed at /dev/null while it loads, because some lines
    (oneDNN notice, cudart stub, absl's pre-init warning) are written before that level applies. Python errors
    still surface: they are raised after stderr is restored."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        ctypes.CDLL(None).fflush(None)  # what the native code buffered goes to /dev/null too, not to the restored fd
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv=None):
    args = build_parser().parse_args(argv)
    configure_logging(debug=args.debug)  # the library's log lines (training progress, summaries) on stderr
    if not args.debug:
        quiet_tensorflow_startup()
    try:
        return args.run(args) or 0
    except TransformerError as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
