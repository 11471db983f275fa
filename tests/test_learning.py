"""A tiny Transformer learns to copy and to reverse random sequences with model.fit (held-out accuracy ≥ 99%).

The learning rate warms up for 300 steps and then decays to 0 (cosine): the paper's schedule decays only as
step^-0.5, so the last epochs still oscillate by ±1% (0.98-0.998 over seeds), which made a 99% bar a coin toss.
With the decay, seeds 0-2 reach 100% (reverse) and 100% (copy) by epoch 9-10.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_transformer import ModelConfig, Transformer
from tf_transformer.config import END_ID, START_ID
from tf_transformer.losses import MaskedAccuracy, MaskedCrossEntropy

VOCAB, LENGTH = 16, 8


def _task(transform, count, rng):
    """((source_ids, target_in), target_out) for random sequences of variable length with trailing padding."""
    source = np.zeros((count, LENGTH), "int32")
    target = np.zeros((count, LENGTH + 2), "int32")
    for row, length in enumerate(rng.integers(3, LENGTH + 1, count)):
        tokens = rng.integers(4, VOCAB, length)
        source[row, :length] = tokens
        target[row, :length + 2] = [START_ID, *transform(tokens), END_ID]
    return (source, target[:, :-1]), np.where(target[:, 1:] == START_ID, 0, target[:, 1:])


@pytest.mark.parametrize("name, transform", [("copy", lambda t: t), ("reverse", lambda t: t[::-1])])
def test_tiny_model_learns(name, transform):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    train, held_out = _task(transform, 6000, rng), _task(transform, 500, rng)
    config = ModelConfig.preset("tiny", source_vocab_size=VOCAB, target_vocab_size=VOCAB, dropout=0.0,
                                max_length=16)
    model = Transformer(config)
    dataset = tf.data.Dataset.from_tensor_slices(train).shuffle(6000, seed=0).batch(64)
    epochs, warmup = 10, 300
    schedule = keras.optimizers.schedules.CosineDecay(0.0, epochs * len(dataset) - warmup, warmup_target=5e-3,
                                                      warmup_steps=warmup)
    model.compile(optimizer=keras.optimizers.Adam(schedule, beta_1=0.9, beta_2=0.98, epsilon=1e-9),
                  loss=MaskedCrossEntropy(label_smoothing=0.0), metrics=[MaskedAccuracy()])
    model.fit(dataset, epochs=epochs, shuffle=False, verbose=0)  # the dataset shuffles itself
    _, accuracy = model.evaluate(*held_out, batch_size=250, verbose=0)
    assert accuracy >= 0.99, f"{name}: held-out token accuracy {accuracy:.4f}"
