"""The paper's learning-rate schedule (§5.3) and its default optimizer."""

import keras
from keras import ops


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


def default_optimizer(d_model, warmup_steps=4000, scale=1.0, clipnorm=None):
    """Adam(β1 0.9, β2 0.98, ε 1e-9) on the Noam schedule, as in the paper."""
    return keras.optimizers.Adam(NoamSchedule(d_model, warmup_steps, scale), beta_1=0.9, beta_2=0.98, epsilon=1e-9,
                                 clipnorm=clipnorm)
