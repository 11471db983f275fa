"""Training from a recipe: a killed run resumes where it stopped, on the same learning-rate curve; recipe mistakes
are one-line errors."""

import csv
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tf_transformer.callbacks import ResumableBackup

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EPOCHS, STEPS = 3, 40


def _recipe(tmp_path, **sections):
    """A small reverse-the-words task as a TSV corpus, and a recipe for it; returns the recipe path."""
    import random

    rng = random.Random(0)
    words = [f"w{i}" for i in range(30)]
    lines = []
    for _ in range(400):
        source = rng.sample(words, rng.randint(2, 6))
        lines.append(" ".join(source) + "\t" + " ".join(reversed(source)))
    corpus = tmp_path / "pairs.tsv"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    recipe = {
        "name": "reverse",
        "data": {"corpus": "tsv", "path": str(corpus), "tokens_per_batch": 256, "max_source_length": 8,
                 "max_target_length": 9},
        "source_tokenizer": {"kind": "whitespace", "vocab_size": None},
        "target_tokenizer": {"kind": "whitespace", "vocab_size": None},
        "model": {"preset": "tiny", "d_model": 32, "d_ff": 64, "num_layers": 1, "num_heads": 2, "max_length": 16},
        "training": {"epochs": EPOCHS, "steps_per_epoch": STEPS, "backup_every_steps": 2, "warmup_steps": 50,
                     "evaluate_max_examples": 10},
        "export": {"directory": str(tmp_path / "saved_models")},
    }
    for section, values in sections.items():
        recipe.setdefault(section, {}).update(values)
    import yaml

    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def _train_command(recipe, run_dir, *extra):
    return [sys.executable, "-m", "tf_transformer.cli", "train", "--config", str(recipe), "--run-dir", str(run_dir),
            *extra]


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def test_a_killed_run_resumes_with_the_same_command(tmp_path):
    # the cosine decay is a function of the run's length and the restored update count: it must end at 0
    recipe, run_dir = _recipe(tmp_path, training={"decay": "cosine"}), tmp_path / "run"
    process = subprocess.Popen(_train_command(recipe, run_dir), cwd=ROOT, env=_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    backup = run_dir / "backup"
    deadline = time.time() + 240
    while ResumableBackup.load(str(backup))[0] is None and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    state, _ = ResumableBackup.load(str(backup))
    assert state is not None, "no backup was written before the kill"
    assert (state["epoch"], state["global_step"]) < (EPOCHS, EPOCHS * STEPS), "the run finished before the kill"

    rerun = subprocess.run(_train_command(recipe, run_dir), cwd=ROOT, env=_env(), capture_output=True, text=True,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resuming at epoch {state['epoch'] + 1}, step {state['step']}" in rerun.stderr  # log lines: stderr
    assert "\r" not in rerun.stderr and "\x1b" not in rerun.stderr, "a log file gets whole plain lines"
    assert re.search(rf"^epoch {EPOCHS}/{EPOCHS} {STEPS}/{STEPS} \[#+\] 100% ", rerun.stderr, re.MULTILINE)
    with open(run_dir / "history.csv", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    epochs, rates = [int(row["epoch"]) for row in rows], [float(row["learning_rate"]) for row in rows]
    assert epochs == list(range(EPOCHS)), f"each epoch exactly once, got {epochs}"
    assert rates[-2] > 1e-4 and rates[-1] < 1e-9, f"cosine: the rate reaches 0 at the last step, got {rates}"
    final, _ = ResumableBackup.load(str(backup))
    assert final == {"epoch": EPOCHS, "step": 0, "global_step": EPOCHS * STEPS}   # step counter continued
    assert (run_dir / "model.keras").is_file()
    assert (tmp_path / "saved_models" / "reverse" / "1" / "saved_model.pb").is_file()   # training ends by exporting


@pytest.mark.parametrize("override, message", [
    ("training.epohcs=2", "unknown key 'epohcs'; valid keys: epochs"),
    ("training.epochs=many", "training.epochs: expected int, got 'many'"),
    ("training.decay=linear", "training.decay: expected one of 'noam', 'cosine', got 'linear'"),
    ("model.num_heads=3", "not divisible by model.num_heads=3"),
    ("data.path=/nonexistent/corpus.tsv", "/nonexistent/corpus.tsv"),
])
def test_recipe_mistakes_are_one_line_errors(tmp_path, capsys, override, message):
    from tf_transformer.cli import main

    recipe = _recipe(tmp_path)
    status = main(_train_command(recipe, tmp_path / "run", "--set", override)[3:])
    stderr = capsys.readouterr().err
    assert status == 2
    assert stderr.count("\n") == 1 and stderr.startswith("error: ") and message in stderr, stderr


@pytest.mark.parametrize("size, count", [(10, 3), (2000, 2000), (5, 9), (12_345, 500)])
def test_the_dev_subset_spans_the_split_without_repeats(size, count):
    from tf_transformer.trainer import evenly_spaced

    items = list(range(size))
    subset = evenly_spaced(items, count)
    assert len(subset) == min(size, count) and len(set(subset)) == len(subset) and subset == sorted(subset)
    assert subset[0] == 0 and subset[-1] >= size - size // max(count, 1) - 1  # reaches the end of the split


def test_a_cosine_decay_longer_than_the_run_is_a_one_line_error(tmp_path, capsys):
    from tf_transformer.cli import main

    # the run's length is known once the corpus is read and batched: the error comes after those log lines
    recipe = _recipe(tmp_path, training={"decay": "cosine", "warmup_steps": 500})
    status = main(_train_command(recipe, tmp_path / "run")[3:])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 2
    assert last == (f"error: training.decay: cosine decays after training.warmup_steps=500, but this run has "
                    f"{EPOCHS * STEPS} updates; lower warmup_steps, train longer or use decay: noam"), last


def test_a_run_that_stops_early_says_so(tmp_path, caplog):
    """With a learning rate too small to change any output, the dev metric never improves after the first epoch:
    early stopping ends the run after 1 + patience epochs, and the log says why instead of just stopping."""
    from tf_transformer.config import load_recipe
    from tf_transformer.trainer import train

    recipe = load_recipe(str(_recipe(tmp_path, training={"epochs": 4, "steps_per_epoch": 5,
                                                         "learning_rate_scale": 1e-9,
                                                         "early_stopping_patience": 1})))
    with caplog.at_level("INFO", logger="tf_transformer.trainer"):
        summary = train(recipe, str(tmp_path / "run"), verbose=False)
    assert summary["epochs_run"] == 2
    assert re.search(r"early stopping: dev_\w+ was best at epoch 1 and did not improve in the next 1 "
                     r"\(training.early_stopping_patience\); stopped after epoch 2 of 4", caplog.text)


def test_a_run_out_of_time_stops_and_says_so(tmp_path, caplog):
    """training.max_minutes smaller than one epoch: the first epoch runs, then the budget ends the run, which still
    ends by exporting, and the log says why."""
    from tf_transformer.config import load_recipe
    from tf_transformer.trainer import train

    recipe = load_recipe(str(_recipe(tmp_path, training={"epochs": 4, "steps_per_epoch": 3,
                                                         "max_minutes": 0.0001})))
    with caplog.at_level("INFO", logger="tf_transformer.trainer"):
        summary = train(recipe, str(tmp_path / "run"), verbose=False)
    assert summary["epochs_run"] == 1 and summary["export"]
    assert re.search(r"time budget: [\d.]+ minutes of epochs, and another \(~[\d.]+ min\) would pass "
                     r"training.max_minutes=0.0001; stopped after epoch 1 of 4", caplog.text), caplog.text


def test_a_budget_with_several_workers_is_refused_before_they_connect(tmp_path, monkeypatch):
    """Each worker would time its own epochs and could stop at another one than the rest, so the run would hang."""
    import json

    from tf_transformer.config import load_recipe
    from tf_transformer.errors import ConfigError
    from tf_transformer.trainer import train

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    recipe = load_recipe(str(_recipe(tmp_path, training={"max_minutes": 60})))
    with pytest.raises(ConfigError, match="training.max_minutes: not with the multi_worker strategy"):
        train(recipe, str(tmp_path / "run"), verbose=False)
    assert not (tmp_path / "run").exists()
