"""The decoder (paper §3.1): masked self-attention, encoder–decoder attention and feed-forward, N times."""

from typing import NamedTuple

import keras

from tf_transformer.layers.dropout import Dropout
from tf_transformer.layers.options import ConfiguredByOptions
from tf_transformer.layers.residual import residual, residual_input, residual_output


class DecoderOutput(NamedTuple):
    """What `DecoderLayer` and `Decoder` return, every field filled whatever the call asked for (unpacks as a tuple).

    Attributes:
        output: float tensor [B, T, d_model] ([N, d_model] when x came packed).
        attention_weights: the cross-attention weights, float32 [B, h, T, S]: one tensor from a `DecoderLayer`, a
            list of them (one per layer, bottom first) from a `Decoder`.
        cache: the keys and values attended over (see `AttentionOutput.cache`): given a `cache`, that cache
            updated, else a cache holding exactly these T positions. A `DecoderLayer`'s is
            {"self": {"key", "value"} [B, h, L, d_k], "cross": {"key", "value"} [B, h, S, d_k]}; a `Decoder`'s is
            {"layer_i": that of layer i}.
    """

    output: object
    attention_weights: object
    cache: object


@keras.saving.register_keras_serializable(package="tf_transformer")
class DecoderLayer(ConfiguredByOptions, keras.layers.Layer):
    """Causal self-attention over the target, cross-attention to the encoder output, then feed-forward.

    Args:
        options: the `LayerOptions` (d_model, num_heads, d_ff, dropouts, activation, norm_position, ε).

    Call arguments:
        x: embedded target [B, T, d_model].
        memory: encoder output [B, S, d_model] (may be None when `cache` holds the cross-attention keys/values).
        self_mask: bool broadcastable to [B, T, T] (or [B, T, L] with a cache of length L): causal and padding.
        memory_mask: bool [B, 1, S]: True at real source tokens.
        cache: {"self": {"key", "value"} [B, h, L, d_k], "cross": {"key", "value"} [B, h, S, d_k]} for
            incremental decoding, from `Decoder.initial_cache`; None for a full (teacher-forced) pass.
        cache_index: int scalar, the position of x[:, 0] in the cache.
        training: whether dropout is active.
        packing, memory_packing: the `Packing`s of the target and the source when x and memory come packed,
            [N, d_model] (x is then returned packed); None for padded tensors (always so with a cache).

    Returns:
        a `DecoderOutput`: output [B, T, d_model] (or [N, d_model]), the cross-attention weights [B, h, T, S] and
        the cache.
    """

    def __init__(self, options, **kwargs):
        super().__init__(**kwargs)
        self.options = options
        self.self_attention = options.attention("self_attention")
        self.cross_attention = options.attention("cross_attention", self_attention=False)
        self.feed_forward = options.feed_forward()
        self.self_attention_norm = options.norm("self_attention_norm")
        self.cross_attention_norm = options.norm("cross_attention_norm")
        self.feed_forward_norm = options.norm("feed_forward_norm")
        self.drops = [Dropout(options.dropout) for _ in range(3)]

    def build(self, x_shape, memory_shape=None):
        self.self_attention.build(x_shape)
        self.cross_attention.build(x_shape, memory_shape or x_shape)
        for sublayer in (self.feed_forward, self.self_attention_norm, self.cross_attention_norm,
                         self.feed_forward_norm):
            sublayer.build(x_shape)

    def call(self, x, memory=None, self_mask=None, memory_mask=None, cache=None, cache_index=None, training=False,
             packing=None, memory_packing=None):
        norm_position = self.options.norm_position
        h = residual_input(x, self.self_attention_norm, norm_position, training)
        attended = self.self_attention(h, attention_mask=self_mask, cache=None if cache is None else cache["self"],
                                       cache_index=cache_index, training=training, packing=packing)
        x = residual_output(x, attended.output, self.self_attention_norm, self.drops[0], norm_position, training)
        h = residual_input(x, self.cross_attention_norm, norm_position, training)
        crossed = self.cross_attention(h, memory, attention_mask=memory_mask,
                                       cache=None if cache is None else cache["cross"], training=training,
                                       packing=packing, memory_packing=memory_packing)
        x = residual_output(x, crossed.output, self.cross_attention_norm, self.drops[1], norm_position, training)
        x = residual(x, lambda h: self.feed_forward(h, training=training),
                     self.feed_forward_norm, self.drops[2], norm_position, training)
        return DecoderOutput(x, crossed.weights, {"self": attended.cache, "cross": crossed.cache})


@keras.saving.register_keras_serializable(package="tf_transformer")
class Decoder(ConfiguredByOptions, keras.layers.Layer):
    """A stack of `num_layers` DecoderLayers (plus a final LayerNorm when pre-LN).

    Args:
        num_layers: N.
        options: the `LayerOptions` of every DecoderLayer.

    Call arguments:
        As `DecoderLayer`, with `cache` a dict {"layer_i": layer cache} from `initial_cache`.

    Returns:
        a `DecoderOutput`: output [B, T, d_model], the per-layer cross-attention weights [B, h, T, S] (a list)
        and the cache {"layer_i": ...}.
    """

    def __init__(self, num_layers, options, **kwargs):
        super().__init__(**kwargs)
        self.num_layers, self.options = num_layers, options
        self.stack = [DecoderLayer(options, name=f"layer_{i}") for i in range(num_layers)]
        self.final_norm = options.norm("final_norm") if options.norm_position == "pre" else None

    def initial_cache(self, memory, max_length):
        """Decoding cache for `max_length` target positions given the encoder output memory [B, S, d_model].

        Self-attention slots start at zero; cross-attention keys/values are projected here, once per sequence.
        """
        batch_size = keras.ops.shape(memory)[0]
        return {f"layer_{i}": {"self": layer.self_attention.empty_cache(batch_size, max_length, memory.dtype),
                               "cross": layer.cross_attention.project_key_value(memory)}
                for i, layer in enumerate(self.stack)}

    def build(self, x_shape, memory_shape=None):
        for layer in self.stack:
            layer.build(x_shape, memory_shape)
        if self.final_norm is not None:
            self.final_norm.build(x_shape)

    def call(self, x, memory=None, self_mask=None, memory_mask=None, cache=None, cache_index=None, training=False,
             packing=None, memory_packing=None):
        weights, new_cache = [], {}
        for i, layer in enumerate(self.stack):
            name = f"layer_{i}"
            decoded = layer(x, memory, self_mask=self_mask, memory_mask=memory_mask,
                            cache=None if cache is None else cache[name], cache_index=cache_index,
                            training=training, packing=packing, memory_packing=memory_packing)
            x = decoded.output
            weights.append(decoded.attention_weights)
            new_cache[name] = decoded.cache
        if self.final_norm is not None:
            x = self.final_norm(x, training=training)
        return DecoderOutput(x, weights, new_cache)

    def get_config(self):
        return {**super().get_config(), "num_layers": self.num_layers}
