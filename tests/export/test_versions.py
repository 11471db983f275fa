"""Versioned, atomic exports: versions 1, 2, ... in TF Serving's layout; never an overwrite or a partial version."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tf_transformer.errors import ModelPathError
from tf_transformer.export import atomic_version_dir, latest_version, next_version


def test_latest_version_is_the_highest_number_and_ignores_everything_else(tmp_path):
    for name in ("1", "2", "10", "9", ".tmp-11-abc", "notes", "12.bak"):
        (tmp_path / name).mkdir()
    (tmp_path / "13").write_text("a file, not a version")
    assert latest_version(tmp_path) == os.path.join(str(tmp_path), "10")
    assert next_version(tmp_path) == 11
    (tmp_path / "10" / "saved_model.pb").write_bytes(b"")
    assert latest_version(tmp_path / "10") == str(tmp_path / "10")  # a version directory is accepted as is


def test_latest_version_of_a_missing_or_empty_model_names_the_fix(tmp_path):
    with pytest.raises(ModelPathError, match="no such directory"):
        latest_version(tmp_path / "missing")
    with pytest.raises(ModelPathError, match="tf-transformer export"):
        latest_version(tmp_path)
    assert next_version(tmp_path / "missing") == 1


def test_an_error_inside_the_atomic_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_version_dir(tmp_path / "model", 1) as temporary:
        Path(temporary, "saved_model.pb").write_bytes(b"half")
        raise RuntimeError("disk full")
    assert os.listdir(tmp_path / "model") == []


def test_exporting_again_gives_the_next_version_and_never_overwrites(trained_run, capsys):
    from tf_transformer.cli import main

    model_dir = trained_run["model_dir"]
    assert trained_run["export"] == os.path.join(model_dir, "1")  # training ended by exporting version 1
    with open(os.path.join(model_dir, "1", "saved_model.pb"), "rb") as file:
        first = file.read()
    assert main(["export", "--run-dir", trained_run["run_dir"]]) == 0
    assert capsys.readouterr().out.strip() == f"exported {os.path.join(model_dir, '2')}"
    assert os.path.isfile(os.path.join(model_dir, "2", "saved_model.pb"))
    assert main(["export", "--run-dir", trained_run["run_dir"], "--version", "1"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "already exists" in error and "version 3" in error, error
    with open(os.path.join(model_dir, "1", "saved_model.pb"), "rb") as file:
        assert file.read() == first
    assert sorted(os.listdir(model_dir)) == ["1", "2"]


def test_a_failed_export_leaves_no_version_directory(trained_run, tmp_path, monkeypatch):
    import tensorflow as tf

    from tf_transformer.export import saved_model
    from tf_transformer.run_dir import load_run

    def half_written_then_fail(module, directory, **kwargs):
        os.makedirs(os.path.join(directory, "variables"))
        Path(directory, "saved_model.pb").write_bytes(b"partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(tf.saved_model, "save", half_written_then_fail)
    monkeypatch.setattr(saved_model.ServingModule, "signatures", lambda self: {})  # skip tracing: save fails anyway
    run = load_run(trained_run["run_dir"])
    with pytest.raises(OSError):
        saved_model.export_saved_model(run.model, run.source_tokenizer, run.target_tokenizer, tmp_path / "m")
    assert os.listdir(tmp_path / "m") == []
    assert next_version(tmp_path / "m") == 1


@pytest.mark.slow
def test_a_killed_export_leaves_no_version_directory(trained_run, tmp_path):
    model_dir = tmp_path / "killed"
    command = [sys.executable, "-m", "tf_transformer.cli", "export", "--run-dir", trained_run["run_dir"],
               "--directory", str(tmp_path), "--name", "killed"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:  # kill once the temporary directory has content
        temporary = [name for name in os.listdir(model_dir) if name.startswith(".tmp-")] \
            if model_dir.is_dir() else []
        if temporary and os.listdir(model_dir / temporary[0]):
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert model_dir.is_dir(), "the export never started writing"
    assert [name for name in os.listdir(model_dir) if name.isdigit()] == []
    assert next_version(model_dir) == 1


def test_exporting_something_that_is_not_a_run_is_a_one_line_error(tmp_path, capsys):
    from tf_transformer.cli import main

    assert main(["export", "--run-dir", str(tmp_path / "nothing")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "not a run directory" in error, error
    assert not os.path.exists("saved_models/nothing")
