"""Our Dropout is Keras' dropout from the same seeds; only the dtype of its noise differs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_transformer.layers.dropout import Dropout


def test_float32_dropout_equals_keras_bit_for_bit_call_after_call(rng):
    x = tf.constant(rng.normal(size=(4, 7, 16)).astype("float32"))
    ours, theirs = Dropout(0.3, seed=11), keras.layers.Dropout(0.3, seed=11)
    for _ in range(3):  # the seed generators advance alike, so every call draws the same mask
        np.testing.assert_array_equal(ours(x, training=True), theirs(x, training=True))
    dropped = np.mean(ours(tf.ones((200, 200)), training=True).numpy() == 0)
    assert 0.28 < dropped < 0.32


def test_bfloat16_inputs_get_the_float32_mask_and_keep_their_dtype(rng):
    x = rng.normal(size=(4, 7, 16)).astype("float32") + 5.0  # never zero
    reference = Dropout(0.25, seed=3)(tf.constant(x), training=True).numpy()
    y = Dropout(0.25, seed=3, dtype="mixed_bfloat16")(tf.constant(x, tf.bfloat16), training=True)
    assert y.dtype == tf.bfloat16
    y = tf.cast(y, tf.float32).numpy()
    np.testing.assert_array_equal(y == 0, reference == 0)
    np.testing.assert_allclose(y, reference, rtol=2**-7)  # bfloat16 keeps 8 significant bits


def test_outside_training_the_inputs_come_back_unchanged(rng):
    x = tf.constant(rng.normal(size=(3, 5)).astype("float32"))
    np.testing.assert_array_equal(Dropout(0.5)(x), x)
    np.testing.assert_array_equal(Dropout(0.0)(x, training=True), x)


def test_gradient_passes_only_through_kept_elements_scaled(rng):
    x = tf.constant(rng.normal(size=(6, 9)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = Dropout(0.4, seed=5)(x, training=True)
        loss = tf.reduce_sum(y)
    gradient = tape.gradient(loss, x).numpy()
    np.testing.assert_allclose(gradient, np.where(y.numpy() == 0, 0.0, 1 / 0.6), rtol=1e-6)


@pytest.mark.parametrize("arguments", [dict(rate=1.0), dict(rate=-0.1), dict(rate=0.1, noise_shape=(1, 4))])
def test_bad_arguments_are_refused(arguments):
    with pytest.raises(ValueError, match="rate|noise_shape"):
        Dropout(**arguments)
