"""training.max_minutes: a run ends after the last epoch that fits its wall-clock budget, counting the epochs a
resumed run did before; a budget that cannot hold is refused when the recipe loads. (That a run out of time stops
and says so, and that several workers are refused: tests/training/test_trainer.py.)"""

import re
import types

import pytest

from tf_transformer.callbacks import EpochTimer, TimeBudget
from tf_transformer.errors import DataError


def _epochs_until_stopped(budget, durations):
    """Feed `budget` epochs of the given seconds until it stops the run; the epochs run."""
    budget.set_model(types.SimpleNamespace(stop_training=False))
    for epoch, seconds in enumerate(durations):
        budget.on_epoch_end(epoch, {EpochTimer.SECONDS: seconds})
        if budget.model.stop_training:
            assert budget.stopped_after == epoch + 1
            return epoch + 1
    return len(durations)


@pytest.mark.parametrize("minutes, seconds", [(1, 7.0), (1, 20.0), (1, 60.0), (90, 88.0), (0.5, 45.0)])
def test_equal_epochs_run_as_many_as_fit_the_budget(minutes, seconds):
    run = _epochs_until_stopped(TimeBudget(minutes), [seconds] * 1000)
    assert run == max(1, int(60 * minutes // seconds))  # the first epoch always runs
    assert run == 1 or run * seconds <= 60 * minutes < (run + 1) * seconds


def test_a_slow_first_epoch_stops_the_run_early_rather_than_late():
    """The first epoch traces the step: the mean over-estimates the next epoch, so the run errs inside the budget."""
    run = _epochs_until_stopped(TimeBudget(10), [90.0] + [60.0] * 100)
    assert run == 9 and 90 + 60 * (run - 1) <= 600


def test_a_resumed_run_counts_the_epochs_history_csv_holds(tmp_path):
    history = tmp_path / "history.csv"
    # epochs 0-2 of 20 s each were done; an epoch 3 row from the attempt that was killed is not counted
    history.write_text("epoch,epoch_seconds,loss\n0,20.0,3.0\n1,20.0,2.0\n2,20.0,1.5\n3,5.0,1.4\n",
                       encoding="utf-8")
    budget = TimeBudget.resumed(2, str(history), 3)
    assert (budget.spent_seconds, budget.epochs_done) == (60.0, 3)
    assert _epochs_until_stopped(budget, [20.0] * 100) == 3  # epochs 3, 4, 5: six epochs of 20 s in 2 minutes
    assert TimeBudget.resumed(2, str(tmp_path / "missing.csv"), 0).epochs_done == 0
    history.write_text("epoch,epoch_seconds\n0,20.0\n1,fast\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"history.csv: its epoch_seconds cannot be read .*ValueError"):
        TimeBudget.resumed(2, str(history), 3)


@pytest.mark.parametrize("override, message", [
    ({"max_minutes": 0}, "training.max_minutes: expected minutes > 0 or null (no budget), got 0"),
    ({"max_minutes": 60, "decay": "cosine"}, "training.max_minutes: a time budget would cut decay: cosine short"),
])
def test_a_budget_that_cannot_hold_is_refused_at_load(override, message):
    from tf_transformer.config import TrainingConfig
    from tf_transformer.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        TrainingConfig(**override)

