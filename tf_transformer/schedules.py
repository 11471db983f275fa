"""Learning-rate schedules: the paper's (§5.3) and a cosine decay for runs of a fixed length; the default optimizer."""

import keras
from keras import ops

from tf_transformer.config import DECAYS


@keras.saving.register_keras_serializable(package="tf_transformer")
class NoamSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lr = scale · d_model^-0.5 · min(step^-0.5, step · warmup_steps^-1.5), with step counted from 1.

    Rises linearly for `warmup_steps` steps, then decays with the inverse square root of the step.

    Args:
        d_model: model width.
        warmup_steps: 4000 in the paper.
        scale: a multiplier (1.0 in the paper; small models and batches like 2.0).
    """

    def __init__(self, d_model, warmup_steps=4000, scale=1.0):
        self.d_model, self.warmup_steps, self.scale = d_model, warmup_steps, scale

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0  # the optimizer's first update has iterations == 0
        return (self.scale * self.d_model ** -0.5
                * ops.minimum(ops.rsqrt(step), step * float(self.warmup_steps) ** -1.5))

    def get_config(self):
        return {"d_model": self.d_model, "warmup_steps": self.warmup_steps, "scale": self.scale}


def learning_rate_schedule(d_model, warmup_steps=4000, scale=1.0, decay="noam", total_steps=None):
    """The learning rate of a run: a linear warm-up to the Noam peak scale · d_model^-0.5 · warmup_steps^-0.5, then
    a decay.

    Args:
        d_model, warmup_steps, scale: as `NoamSchedule`; both decays share its warm-up and peak.
        decay: "noam" decays with the inverse square root of the step and never ends (the paper; resumable with any
            number of further epochs). "cosine" (Keras' `CosineDecay`) follows half a cosine from the peak down to 0
            at `total_steps`: for a run whose length is fixed in advance, its last epochs train at small rates, as
            checkpoint averaging imitates.
        total_steps: the optimizer updates of the whole run ("cosine" only).

    Raises:
        ValueError: an unknown decay, or "cosine" without a `total_steps` beyond the warm-up.
    """
    if decay == "noam":
        return NoamSchedule(d_model, warmup_steps, scale)
    if decay != "cosine":
        raise ValueError(f"decay: expected one of {', '.join(DECAYS)}, got {decay!r}")
    if total_steps is None or total_steps <= warmup_steps:
        raise ValueError(f"decay 'cosine' needs the run's total_steps beyond warmup_steps={warmup_steps}, "
                         f"got {total_steps}")
    peak = scale * d_model ** -0.5 * warmup_steps ** -0.5
    return keras.optimizers.schedules.CosineDecay(peak / warmup_steps, total_steps - warmup_steps,
                                                  warmup_target=peak, warmup_steps=warmup_steps)


def default_optimizer(d_model, warmup_steps=4000, scale=1.0, clipnorm=None, decay="noam", total_steps=None):
    """Adam(β1 0.9, β2 0.98, ε 1e-9) as in the paper, on `learning_rate_schedule(d_model, warmup_steps, scale, decay,
    total_steps)`."""
    return keras.optimizers.Adam(learning_rate_schedule(d_model, warmup_steps, scale, decay, total_steps),
                                 beta_1=0.9, beta_2=0.98, epsilon=1e-9, clipnorm=clipnorm)
