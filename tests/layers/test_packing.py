"""Packed tokens: running the position-wise layers on real tokens only changes no real output and no gradient."""

import dataclasses

import numpy as np
import tensorflow as tf

from tf_transformer import ModelConfig, Transformer
from tf_transformer.layers.packing import Packing


def _batch():
    rng = np.random.default_rng(0)
    source = rng.integers(1, 30, (3, 7)).astype("int32")
    source[0, 4:], source[2, 1:] = 0, 0
    target = rng.integers(1, 30, (3, 5)).astype("int32")
    target[1, 2:] = 0
    return source, target


def test_pack_then_unpack_keeps_real_rows_and_zeroes_padding():
    ids = np.array([[5, 6, 0], [7, 0, 0]], "int32")
    x = tf.random.normal((2, 3, 4))
    packing = Packing(ids)
    packed = packing.pack(x)
    assert packed.shape == (3, 4)
    restored = packing.unpack(packed).numpy()
    np.testing.assert_array_equal(restored[ids != 0], x.numpy()[ids != 0])
    assert not restored[ids == 0].any()


def test_packed_model_gives_the_unpacked_logits_and_gradients():
    config = ModelConfig.preset("tiny", source_vocab_size=30, target_vocab_size=30)
    packed = Transformer(config)
    packed.build()
    plain = Transformer(dataclasses.replace(config, pack_tokens=False))
    plain.build()
    plain.set_weights(packed.get_weights())
    source, target = _batch()
    real = (target != 0)[..., None].astype("float32")
    results = []
    for model in (packed, plain):
        with tf.GradientTape() as tape:
            logits = model((source, target))
            loss = tf.reduce_sum(logits * real)
        results.append((logits.numpy(), tape.gradient(loss, model.trainable_variables)))
    (packed_logits, packed_grads), (plain_logits, plain_grads) = results
    np.testing.assert_allclose(packed_logits[target != 0], plain_logits[target != 0], atol=1e-5)
    assert not packed_logits[target == 0].any()
    for a, b in zip(packed_grads, plain_grads):
        np.testing.assert_allclose(tf.convert_to_tensor(a), tf.convert_to_tensor(b), atol=1e-4)
