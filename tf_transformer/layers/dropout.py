"""Dropout (Srivastava et al., 2014) whose random mask is drawn in float32 whatever the compute dtype."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tf_transformer")
class Dropout(keras.layers.Dropout):
    """`keras.layers.Dropout` (each element zeroed with probability `rate`, the rest scaled by 1 / (1 - rate)) with
    its uniform noise drawn in float32.

    Keras draws the noise in the input's dtype. Under mixed_bfloat16 that is bfloat16, which TensorFlow's CPU
    kernels generate and compare more slowly than float32, and the Transformer has 2 + 2·N_enc + 3·N_dec dropouts
    of [B, T, d_model].
    Drawing float32 noise and applying the mask in the compute dtype took a bfloat16 training step of the 3+3 × 256
    model from 250 to 234 ms (bench/train.py, README "Benchmarks"). In float32 this is Keras' dropout bit for bit
    (the same noise from the same seed).

    Args:
        rate: the probability of zeroing an element, in [0, 1).
        seed: optional integer seed of the layer's seed generator.

    Call arguments:
        inputs: float tensor of any shape and dtype.
        training: drop only when True; otherwise the inputs come back unchanged.

    Returns:
        a tensor of the inputs' shape and dtype.
    """

    def __init__(self, rate, seed=None, **kwargs):
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout rate={rate} is not in [0, 1)")
        if kwargs.pop("noise_shape", None) is not None:
            raise ValueError("tf_transformer.layers.Dropout draws an independent mask per element; it takes no "
                             "noise_shape (use keras.layers.Dropout for shared masks)")
        super().__init__(rate, seed=seed, **kwargs)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        # Keras' TensorFlow backend keeps seeds as int64 variables; stateless kernels (and XLA) want int32.
        seed = tf.cast(tf.math.floormod(self.seed_generator.next(), tf.int32.max - 1), tf.int32)

        def float32_noise(shape, dtype):  # `dtype` is the inputs' dtype; the noise ignores it
            return tf.random.stateless_uniform(shape, seed, dtype=tf.float32)

        return tf.nn.experimental.general_dropout(inputs, self.rate, float32_noise)
