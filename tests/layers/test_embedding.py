"""Positional encodings follow the paper's formula; token embeddings are scaled and tie with the softmax."""

import math

import keras
import numpy as np

from tf_transformer.layers import PositionalEncoding, TokenEmbedding, sinusoid_table


def test_sinusoid_table_is_the_papers_formula():
    table = sinusoid_table(50, 16)
    for pos in (0, 1, 7, 49):
        for i in range(8):
            angle = pos / 10000 ** (2 * i / 16)
            assert math.isclose(table[pos, 2 * i], math.sin(angle), abs_tol=1e-6)
            assert math.isclose(table[pos, 2 * i + 1], math.cos(angle), abs_tol=1e-6)


def test_start_offset_selects_later_positions(rng):
    encoding = PositionalEncoding(20, 8)
    x = np.zeros((1, 3, 8), "float32")
    np.testing.assert_allclose(encoding(x, start=5)[0], sinusoid_table(20, 8)[5:8], atol=1e-6)


def test_embedding_is_scaled_and_logits_use_the_same_matrix(rng):
    keras.utils.set_random_seed(0)
    embedding = TokenEmbedding(30, 16)
    ids = np.array([[4, 7, 29]])
    vectors = np.asarray(embedding(ids))
    matrix = np.asarray(embedding.embeddings)
    np.testing.assert_allclose(vectors[0], matrix[[4, 7, 29]] * 4.0, atol=1e-6)
    states = rng.normal(size=(1, 2, 16)).astype("float32")
    np.testing.assert_allclose(embedding.logits(states), states @ matrix.T, atol=1e-5)


def test_tied_softmax_gradient_never_builds_a_tensor_larger_than_the_logits_or_the_matrix():
    import tensorflow as tf

    embedding = TokenEmbedding(50, 16)
    embedding.build()

    @tf.function
    def gradient(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(embedding.logits(x))
        return tape.gradient(loss, embedding.embeddings)

    graph = gradient.get_concrete_function(tf.TensorSpec((4, 3, 16))).graph
    largest = max(int(np.prod(output.shape)) for op in graph.get_operations() for output in op.outputs
                  if output.shape.is_fully_defined())
    assert largest <= max(4 * 3 * 50, 50 * 16)   # a broadcasting einsum here once built [B, T, V, d_model]
