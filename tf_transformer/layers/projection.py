"""The position-wise linear map used by attention, feed-forward and the untied softmax: x·W + b on [B, T, d]."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tf_transformer")
class Projection(keras.layers.Layer):
    """activation(x·W + b) over the last axis, computed as one 2-D matmul on the [B·T, d_in] view of x.

    The 2-D matmul matters for training speed. `keras.layers.Dense` and `EinsumDense("btd,de->bte")` both reach
    TensorFlow as a broadcasting `BatchMatMulV2` of x [B, T, d_in] with W [d_in, units] (Keras rewrites that
    einsum to `tf.matmul`), whose weight gradient is B small [d_in, T] × [T, units] products summed over B: a
    [B, d_in, units] temporary and matmuls with an inner size of T. On [B·T, d_in] the gradient is one matmul
    over all B·T rows, which makes training steps several times faster (bench/README.md has the measurement).
    The weights are `kernel` [d_in, units] and `bias` [units], initialised as Dense's, so weights saved from Dense
    or EinsumDense projections load unchanged.

    Args:
        units: output width.
        activation: None, or a Keras activation name ("relu", "gelu").

    Call arguments:
        x: float tensor [..., d_in] (the model passes [B, T, d_in]).

    Returns:
        float tensor [..., units].
    """

    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.activation = units, activation
        self._activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, x):
        shape = ops.shape(x)
        y = ops.matmul(ops.reshape(x, (-1, self.kernel.shape[0])), self.kernel) + self.bias
        # -1 for the batch: static inner sizes (T = 1 in a decoding step) then cost no shape ops
        return ops.reshape(self._activation(y), (-1, *shape[1:-1], self.units))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation}
