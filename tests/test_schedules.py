"""Learning-rate schedules: Noam follows the paper's formula; cosine shares its warm-up and peak and ends at 0."""

import math

import numpy as np
import pytest

from tf_transformer.schedules import NoamSchedule, default_optimizer, learning_rate_schedule


@pytest.mark.parametrize("step", [0, 1, 99, 3999, 4000, 10_000, 100_000])
def test_noam_schedule_matches_the_formula(step):
    schedule = NoamSchedule(d_model=512, warmup_steps=4000, scale=2.0)
    n = step + 1                                           # the optimizer's first update is iteration 0
    expected = 2.0 * 512 ** -0.5 * min(n ** -0.5, n * 4000 ** -1.5)
    assert math.isclose(float(schedule(step)), expected, rel_tol=1e-5)


def test_schedule_peaks_at_warmup_end_and_default_optimizer_uses_paper_betas():
    schedule = NoamSchedule(256, warmup_steps=100)
    rates = [float(schedule(s)) for s in range(0, 400, 7)]
    assert int(np.argmax(rates)) * 7 in range(91, 106)
    optimizer = default_optimizer(256)
    assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (0.9, 0.98, 1e-9)
    assert NoamSchedule.from_config(schedule.get_config()).get_config() == schedule.get_config()


def test_cosine_shares_noams_warm_up_and_peak_then_falls_to_zero_at_the_last_step():
    noam = learning_rate_schedule(128, warmup_steps=100, scale=0.5)
    cosine = learning_rate_schedule(128, warmup_steps=100, scale=0.5, decay="cosine", total_steps=1000)
    peak = 0.5 * 128 ** -0.5 * 100 ** -0.5
    warm_up = [(float(noam(s)), float(cosine(s))) for s in range(0, 100, 9)]
    assert all(math.isclose(n, c, rel_tol=0.02) for n, c in warm_up), warm_up   # a linear rise to the same peak
    assert math.isclose(float(cosine(100)), peak, rel_tol=1e-5)
    decay = [float(cosine(s)) for s in range(100, 1001, 50)]
    assert all(a > b for a, b in zip(decay, decay[1:])), decay
    assert math.isclose(float(cosine(550)), peak / 2, rel_tol=1e-4)               # half-way down at mid-decay
    assert float(cosine(1000)) == pytest.approx(0.0, abs=1e-9) and float(cosine(5000)) == pytest.approx(0.0, abs=1e-9)
    assert float(cosine(900)) < float(noam(900)) / 10                            # the last tenth trains gently


@pytest.mark.parametrize("decay, total_steps, message", [
    ("linear", 1000, "decay: expected one of noam, cosine, got 'linear'"),
    ("cosine", None, "needs the run's total_steps beyond warmup_steps=100"),
    ("cosine", 100, "needs the run's total_steps beyond warmup_steps=100"),
])
def test_a_schedule_that_cannot_be_built_says_why(decay, total_steps, message):
    with pytest.raises(ValueError, match=message):
        default_optimizer(128, warmup_steps=100, decay=decay, total_steps=total_steps)
