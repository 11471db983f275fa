"""The projection is Dense's function and weights, and its gradient never builds a per-example weight tensor."""

import keras
import numpy as np
import tensorflow as tf

from tf_transformer.layers.projection import Projection


def test_projection_computes_what_dense_computes_with_the_same_weights(rng):
    x = rng.normal(size=(3, 5, 16)).astype("float32")
    dense = keras.layers.Dense(8, activation="relu")
    dense(x)
    projection = Projection(8, "relu")
    projection.build(x.shape)
    projection.set_weights(dense.get_weights())  # kernel [16, 8] then bias [8]: Dense's files load as they are
    np.testing.assert_allclose(projection(x), dense(x), atol=1e-5)
    assert projection(x[:, :1]).shape == (3, 1, 8)  # a decoding step's [B, 1, d]


def test_weight_gradient_never_builds_a_tensor_larger_than_the_activations_or_the_kernel():
    projection = Projection(32)
    projection.build((None, None, 16))

    @tf.function
    def gradient(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(projection(x))
        return tape.gradient(loss, projection.kernel)

    graph = gradient.get_concrete_function(tf.TensorSpec((8, 3, 16))).graph
    largest = max(int(np.prod(output.shape)) for op in graph.get_operations() for output in op.outputs
                  if output.shape.is_fully_defined())
    # a broadcasting [B, T, d] x [d, units] matmul (Dense, EinsumDense) builds [B, d, units] = 8 * 16 * 32 here
    assert largest <= max(8 * 3 * 32, 16 * 32)
