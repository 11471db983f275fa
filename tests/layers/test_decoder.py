"""Decoder layer and stack: one `DecoderOutput` from every call, cross-attention weights per layer, and the cache a
full pass returns is the one cached steps write."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_transformer.layers import Decoder, DecoderLayer, DecoderOutput, LayerOptions, causal_mask, padding_mask

OPTIONS = LayerOptions(d_model=32, num_heads=4, d_ff=64, dropout=0.0)


def _inputs(rng):
    x, memory = rng.normal(size=(2, 5, 32)).astype("float32"), rng.normal(size=(2, 6, 32)).astype("float32")
    memory_mask = padding_mask(np.array([[4, 4, 4, 4, 0, 0], [4, 4, 4, 4, 4, 4]]))
    return x, memory, memory_mask


@pytest.mark.parametrize("with_cache", [False, True])
def test_the_layer_returns_one_decoder_output_with_or_without_a_cache(with_cache, rng):
    keras.utils.set_random_seed(0)
    layer, (x, memory, memory_mask) = DecoderLayer(OPTIONS), _inputs(rng)
    layer.build(x.shape, memory.shape)
    if with_cache:
        cache = {"self": layer.self_attention.empty_cache(2, 8),
                 "cross": layer.cross_attention.project_key_value(memory)}
        result = layer(x, self_mask=causal_mask(5, 8), memory_mask=memory_mask, cache=cache, cache_index=0)
    else:
        result = layer(x, memory, self_mask=causal_mask(5), memory_mask=memory_mask)
    assert type(result) is DecoderOutput
    assert all(isinstance(leaf, tf.Tensor) for leaf in tf.nest.flatten(result))
    assert result.output.shape == (2, 5, 32) and result.attention_weights.shape == (2, 4, 5, 6)
    assert result.cache["self"]["key"].shape == (2, 4, 8 if with_cache else 5, 8)
    assert result.cache["cross"]["value"].shape == (2, 4, 6, 8)


def test_the_stack_gives_each_layers_cross_attention_over_real_source_tokens(rng):
    keras.utils.set_random_seed(0)
    decoder, (x, memory, memory_mask) = Decoder(3, OPTIONS), _inputs(rng)
    result = decoder(x, memory, self_mask=causal_mask(5), memory_mask=memory_mask)
    assert type(result) is DecoderOutput and len(result.attention_weights) == 3
    assert sorted(result.cache) == ["layer_0", "layer_1", "layer_2"]
    for weights in result.attention_weights:                            # [B, h, T, S]
        weights = np.asarray(weights)
        np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
        assert np.all(weights[0, :, :, 4:] == 0.0)                      # row 0's source ends at 4


def test_the_cache_of_a_full_pass_is_what_cached_steps_write(rng):
    keras.utils.set_random_seed(0)
    decoder = Decoder(2, LayerOptions(32, 4, 64, dropout=0.0, norm_position="pre"))
    x, memory, memory_mask = _inputs(rng)
    full = decoder(x, memory, self_mask=causal_mask(5), memory_mask=memory_mask)
    cache = decoder.initial_cache(memory, 5)
    for step in range(5):
        output, _, cache = decoder(x[:, step:step + 1], self_mask=causal_mask(1, 5, start=step),
                                   memory_mask=memory_mask, cache=cache, cache_index=step)
        np.testing.assert_allclose(output[:, 0], full.output[:, step], atol=1e-5)
    for stepped, whole in zip(tf.nest.flatten(cache), tf.nest.flatten(full.cache)):
        np.testing.assert_allclose(stepped, whole, atol=1e-5)
