"""Per-epoch checkpoints keep the newest `keep_checkpoints` (none with 0) and the best by the dev metric; a run
with none still has weights to load (the best checkpoint, else the resume backup)."""

import json

import keras
import numpy as np
import pytest

from tf_transformer.callbacks import Checkpoints, ResumableBackup
from tf_transformer.run_dir import RunPaths, latest_weights


@pytest.fixture
def model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    return model


def _run_epochs(callback, model, dev_values):
    callback.set_model(model)
    for epoch, value in enumerate(dev_values):
        callback.on_epoch_end(epoch, {} if value is None else {"dev_bleu": value})


@pytest.mark.parametrize("keep, kept", [(0, []), (1, ["epoch-004.weights.h5"]),
                                        (2, ["epoch-003.weights.h5", "epoch-004.weights.h5"])])
def test_keep_checkpoints_keeps_the_newest_epochs_and_the_best(tmp_path, model, keep, kept):
    paths = RunPaths(str(tmp_path))
    _run_epochs(Checkpoints(paths.checkpoints, keep, "bleu"), model, [10.0, 30.0, 20.0, 25.0])
    files = sorted(f.name for f in tmp_path.joinpath("checkpoints").iterdir())
    assert files == sorted(["best.json", "best.weights.h5", *kept])
    assert latest_weights(paths) == paths.best_weights


def test_without_checkpoints_the_run_loads_from_its_backup(tmp_path, model):
    paths = RunPaths(str(tmp_path))
    _run_epochs(Checkpoints(paths.checkpoints, 0, "bleu"), model, [None, None])  # no dev metric
    assert latest_weights(paths) is None
    backup = ResumableBackup(paths.backup, every_steps=0)
    backup.set_model(model)
    backup.on_epoch_end(1)
    assert latest_weights(paths) == ResumableBackup.load(paths.backup)[1]


def test_the_best_checkpoint_follows_the_chosen_metric_across_a_resume(tmp_path, model):
    paths = RunPaths(str(tmp_path))
    logs = [{"dev_bleu": 40.0, "dev_chrf": 24.0}, {"dev_bleu": 35.0, "dev_chrf": 31.0}]
    for metric, best_epoch in (("bleu", 1), ("chrf", 2)):  # chrf: a resume that changed training.best_metric
        callback = Checkpoints(paths.checkpoints, 0, metric)
        callback.set_model(model)
        for epoch, values in enumerate(logs):
            callback.on_epoch_end(epoch, values)
        saved = json.loads(tmp_path.joinpath("checkpoints", "best.json").read_text())
        assert (saved["metric"], saved["epoch"]) == (f"dev_{metric}", best_epoch)
