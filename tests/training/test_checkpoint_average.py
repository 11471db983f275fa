"""`tf-transformer average`: the average of the newest N epoch checkpoints, written as a run directory that loads
(and translates) like the run it came from; nothing is overwritten and too few checkpoints is a one-line error."""

import shutil
import warnings

import h5py
import numpy as np
import pytest

from tf_transformer.checkpoint_average import average_checkpoints, epoch_checkpoints
from tf_transformer.cli import main
from tf_transformer.errors import ModelPathError
from tf_transformer.run_dir import RunPaths, load_checkpoint_weights, load_run


@pytest.fixture
def run_with_epochs(trained_run, tmp_path):
    """A copy of the session's trained run whose checkpoints/ holds epoch-001..003 made from its weights w:
    w + d, w - d, w (d a fixed random perturbation). Returns (run_dir, w as a list of arrays)."""
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run["run_dir"], run_dir)
    paths = RunPaths(str(run_dir))
    shutil.rmtree(paths.checkpoints, ignore_errors=True)
    shutil.rmtree(paths.backup, ignore_errors=True)
    (run_dir / "checkpoints").mkdir()
    model = load_run(str(run_dir)).model
    weights = model.get_weights()
    rng = np.random.default_rng(0)
    delta = [rng.normal(size=w.shape).astype(w.dtype) for w in weights]
    for epoch, sign in ((1, 1.0), (2, -1.0), (3, 0.0)):
        model.set_weights([w + sign * d for w, d in zip(weights, delta)])
        model.save_weights(str(run_dir / "checkpoints" / f"epoch-{epoch:03d}.weights.h5"))
    return run_dir, weights


def _loaded_weights(run_dir):
    return load_run(str(run_dir)).model.get_weights()


def test_averaging_equal_checkpoints_gives_that_checkpoint(run_with_epochs, tmp_path):
    run_dir, weights = run_with_epochs
    output = average_checkpoints(run_dir, last=1, output=tmp_path / "last1")
    for averaged, original in zip(_loaded_weights(output), weights):
        np.testing.assert_array_equal(averaged, original)


def test_the_last_three_average_to_the_middle(run_with_epochs):
    run_dir, weights = run_with_epochs  # (w + d) + (w - d) + w = 3w
    assert main(["average", "--run-dir", str(run_dir), "--last", "3"]) == 0
    output = f"{run_dir}-avg3"
    for averaged, original in zip(_loaded_weights(output), weights):
        np.testing.assert_allclose(averaged, original, atol=1e-6)
    run = load_run(output)  # a run directory of its own: it translates like the original
    from tf_transformer.translation import Translator

    texts = ["abc", "hij", "jjab"]
    ours = Translator(run.model, run.source_tokenizer, run.target_tokenizer).translate(texts)
    original = load_run(str(run_dir))
    original.model.set_weights(weights)
    expected = Translator(original.model, original.source_tokenizer, original.target_tokenizer).translate(texts)
    assert [text for text, _ in ours] == [text for text, _ in expected]
    np.testing.assert_allclose([score for _, score in ours], [score for _, score in expected], atol=1e-4)


def test_too_few_checkpoints_or_an_existing_output_is_a_one_line_error(run_with_epochs, capsys):
    run_dir, _ = run_with_epochs
    with pytest.raises(ModelPathError, match="3 epoch checkpoint.*fewer than --last 5.*keep_checkpoints >= 5"):
        average_checkpoints(run_dir, last=5)
    assert main(["average", "--run-dir", str(run_dir), "--last", "2", "--output", str(run_dir)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["average", "--run-dir", str(run_dir), "--last", "0"]) == 2
    assert main(["average", "--run-dir", str(run_dir.parent / "missing")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_a_training_checkpoint_averages_to_its_own_weights_without_warnings(trained_run, tmp_path):
    """The trainer's epoch checkpoints carry the optimizer state too; averaging one of them gives its model weights,
    and the optimizer variables that are dropped on the way print nothing (a user would see five warnings)."""
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run["run_dir"], run_dir)
    checkpoint = epoch_checkpoints(run_dir)[-1]
    with h5py.File(checkpoint, "r") as file:
        assert "optimizer" in file
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        output = average_checkpoints(run_dir, last=1, output=tmp_path / "last1")
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == []
    run = load_run(str(run_dir))
    load_checkpoint_weights(run.model, checkpoint)
    for averaged, original in zip(_loaded_weights(output), run.model.get_weights()):
        np.testing.assert_array_equal(averaged, original)
