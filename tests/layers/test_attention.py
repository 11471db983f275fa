"""Multi-head attention: weights are a distribution over allowed keys, the cache equals the full computation, and
every call returns the same `AttentionOutput`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_transformer.layers import AttentionOutput, MultiHeadAttention, causal_mask, padding_mask


@pytest.fixture
def attention():
    keras.utils.set_random_seed(0)
    return MultiHeadAttention(d_model=32, num_heads=4)


def test_weights_sum_to_one_over_unmasked_keys_and_are_zero_on_masked(attention, rng):
    x = rng.normal(size=(2, 6, 32)).astype("float32")
    ids = np.array([[5, 6, 7, 8, 0, 0], [5, 6, 7, 8, 9, 10]])
    mask = np.logical_and(causal_mask(6), padding_mask(ids))              # [B, T, S]
    weights = np.asarray(attention(x, attention_mask=mask).weights)      # [B, H, T, S]
    allowed = np.broadcast_to(np.asarray(mask)[:, None], weights.shape)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    assert np.all(weights[~allowed] == 0.0)
    assert np.all(weights[allowed] > 0.0)


def test_matches_a_numpy_reference(attention, rng):
    x = rng.normal(size=(2, 5, 32)).astype("float32")
    output = np.asarray(attention(x).output)
    qkv_kernel, qkv_bias = (np.asarray(w) for w in attention.qkv.weights)
    out_kernel, out_bias = (np.asarray(w) for w in attention.output_projection.weights)
    q, k, v = np.split(x @ qkv_kernel + qkv_bias, 3, axis=-1)
    heads = lambda t: t.reshape(2, 5, 4, 8).transpose(0, 2, 1, 3)  # noqa: E731
    scores = heads(q) @ heads(k).transpose(0, 1, 3, 2) / np.sqrt(8)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    context = (weights @ heads(v)).transpose(0, 2, 1, 3).reshape(2, 5, 32)
    np.testing.assert_allclose(output, context @ out_kernel + out_bias, atol=1e-5)


def test_cached_self_attention_one_step_at_a_time_equals_causal_full(attention, rng):
    x = rng.normal(size=(2, 7, 32)).astype("float32")
    full = attention(x, attention_mask=causal_mask(7))
    cache = attention.empty_cache(2, 10)
    for step in range(7):
        out, _, cache = attention(x[:, step:step + 1], attention_mask=causal_mask(1, 10, start=step), cache=cache,
                                  cache_index=step)
        np.testing.assert_allclose(out[:, 0], full.output[:, step], atol=1e-5)
    assert np.all(np.asarray(cache["key"])[:, :, 7:] == 0.0)           # unwritten slots stay empty
    for name in ("key", "value"):                                      # the full pass returns what the steps wrote
        np.testing.assert_allclose(cache[name][:, :, :7], full.cache[name], atol=1e-5)


def test_cross_attention_with_projected_memory_equals_direct(rng):
    keras.utils.set_random_seed(0)
    cross = MultiHeadAttention(32, 4, self_attention=False)
    query, memory = rng.normal(size=(2, 3, 32)).astype("float32"), rng.normal(size=(2, 5, 32)).astype("float32")
    mask = padding_mask(np.array([[4, 4, 4, 0, 0], [4, 4, 4, 4, 4]]))
    direct = cross(query, memory, attention_mask=mask)
    cached = cross(query, attention_mask=mask, cache=cross.project_key_value(memory))
    for field in ("output", "weights"):
        np.testing.assert_allclose(getattr(direct, field), getattr(cached, field), atol=1e-6)
    for name in ("key", "value"):
        np.testing.assert_allclose(direct.cache[name], cached.cache[name], atol=1e-6)


def test_softmax_stays_float32_under_mixed_precision(rng):
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        attention = MultiHeadAttention(32, 4)
        out, weights, _ = attention(rng.normal(size=(1, 4, 32)).astype("float32"))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert out.dtype == "float16" and weights.dtype == "float32"


@pytest.mark.parametrize("self_attention", [True, False])
@pytest.mark.parametrize("with_cache", [False, True])
def test_every_call_returns_an_attention_output_of_tensors(self_attention, with_cache, rng):
    keras.utils.set_random_seed(0)
    attention = MultiHeadAttention(32, 4, self_attention=self_attention)
    query, memory = rng.normal(size=(2, 3, 32)).astype("float32"), rng.normal(size=(2, 5, 32)).astype("float32")
    attention.build(query.shape, memory.shape)
    if not with_cache:
        result = attention(query, memory)
    elif self_attention:
        result = attention(query, attention_mask=causal_mask(3, 8), cache=attention.empty_cache(2, 8), cache_index=0)
    else:
        result = attention(query, cache=attention.project_key_value(memory))
    keys = 8 if self_attention and with_cache else 3 if self_attention else 5
    assert type(result) is AttentionOutput
    assert all(isinstance(leaf, tf.Tensor) for leaf in tf.nest.flatten(result))
    assert result.output.shape == (2, 3, 32) and result.weights.shape == (2, 4, 3, keys)
    assert result.cache["key"].shape == result.cache["value"].shape == (2, 4, keys, 8)


def test_a_functional_model_takes_the_output_field(rng):
    query = keras.Input((6, 32))
    model = keras.Model(query, MultiHeadAttention(32, 4)(query, attention_mask=causal_mask(6)).output)
    assert model(rng.normal(size=(2, 6, 32)).astype("float32")).shape == (2, 6, 32)
