"""The CLI starts like a small tool: parsing (and --help) loads no TensorFlow or Keras, and a command's stderr holds
its own one-line messages, not TensorFlow's native start-up lines (those show with --debug)."""

import os
import subprocess
import sys

import pytest

NATIVE_MARKERS = ("oneDNN", "cudart_stub", "absl::InitializeLog", "cuInit", "I0000")


def _cli(*args):
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}  # conftest sets it
    return subprocess.run([sys.executable, "-m", "tf_transformer.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_building_the_parser_imports_neither_tensorflow_nor_keras():
    code = ("import sys; from tf_transformer.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


@pytest.mark.parametrize("debug", [False, True])
def test_tensorflow_start_up_lines_reach_stderr_only_with_debug(tmp_path, debug):
    result = _cli(*(["--debug"] if debug else []), "translate", "--run-dir", str(tmp_path / "missing"), "x")
    assert result.returncode != 0
    native = [line for line in result.stderr.splitlines() if any(m in line for m in NATIVE_MARKERS)]
    if debug:
        assert native, "with --debug TensorFlow's own start-up lines are shown"
    else:
        assert native == [] and result.stderr.strip().startswith("error: "), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
