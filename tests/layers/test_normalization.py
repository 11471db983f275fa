"""Our LayerNormalization is Keras' function, and its hand-written gradient is the true gradient."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_transformer.layers.normalization import LayerNormalization


@pytest.mark.parametrize("training", [False, True])
def test_outputs_and_gradients_equal_keras_layer_normalization(rng, training):
    x = tf.constant(rng.normal(3.0, 2.0, size=(2, 5, 16)).astype("float32"))
    upstream = tf.constant(rng.normal(size=(2, 5, 16)).astype("float32"))
    ours, reference = LayerNormalization(1e-6), keras.layers.LayerNormalization(epsilon=1e-6)
    for layer in (ours, reference):
        layer.build(x.shape)
    ours.set_weights([rng.normal(size=16).astype("float32"), rng.normal(size=16).astype("float32")])
    reference.set_weights(ours.get_weights())  # gamma then beta: weights saved from Keras' layer load as they are
    results = []
    for layer in (ours, reference):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training) if layer is ours else layer(x)
            loss = tf.reduce_sum(y * upstream)
        results.append([y, *tape.gradient(loss, [x, layer.gamma, layer.beta])])
    for got, expected in zip(*results):
        np.testing.assert_allclose(got, expected, atol=1e-5)
