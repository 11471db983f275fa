"""The decoder (paper §3.1): masked self-attention, encoder–decoder attention and feed-forward, N times."""

import keras

from tf_transformer.layers.attention import MultiHeadAttention
from tf_transformer.layers.feed_forward import FeedForward
from tf_transformer.layers.normalization import LayerNormalization
from tf_transformer.layers.residual import residual


@keras.saving.register_keras_serializable(package="tf_transformer")
class DecoderLayer(keras.layers.Layer):
    """Causal self-attention over the target, cross-attention to the encoder output, then feed-forward.

    Args: as `EncoderLayer`.

    Call arguments:
        x: embedded target [B, T, d_model].
        memory: encoder output [B, S, d_model] (may be None when `cache` holds the cross-attention keys/values).
        self_mask: bool broadcastable to [B, T, T] (or [B, T, L] with a cache of length L): causal and padding.
        memory_mask: bool [B, 1, S]: True at real source tokens.
        cache: {"self": {"key", "value"} [B, h, L, d_k], "cross": {"key", "value"} [B, h, S, d_k]} for
            incremental decoding, from `Decoder.initial_cache`; None for a full (teacher-forced) pass.
        cache_index: int scalar, the position of x[:, 0] in the cache.
        training: whether dropout is active.
        return_attention_scores: also return the cross-attention weights [B, h, T, S].
        packing, memory_packing: the `Packing`s of the target and the source when x and memory come packed,
            [N, d_model] (x is then returned packed); None for padded tensors (always so with a cache).

    Returns:
        x [B, T, d_model] (or [N, d_model]); then the cross-attention weights if asked; then the updated cache if one was given.
    """

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, attention_dropout=0.0, ffn_dropout=0.0,
                 activation="relu", norm_position="post", layer_norm_epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.d_model, self.num_heads, self.d_ff = d_model, num_heads, d_ff
        self.dropout, self.attention_dropout, self.ffn_dropout = dropout, attention_dropout, ffn_dropout
        self.activation = activation
        self.norm_position, self.layer_norm_epsilon = norm_position, layer_norm_epsilon
        self.self_attention = MultiHeadAttention(d_model, num_heads, attention_dropout, name="self_attention")
        self.cross_attention = MultiHeadAttention(d_model, num_heads, attention_dropout, self_attention=False,
                                                  name="cross_attention")
        self.feed_forward = FeedForward(d_model, d_ff, activation, ffn_dropout, name="feed_forward")
        norm = lambda name: LayerNormalization(layer_norm_epsilon, name=name)  # noqa: E731
        self.self_attention_norm, self.cross_attention_norm = norm("self_attention_norm"), norm("cross_attention_norm")
        self.feed_forward_norm = norm("feed_forward_norm")
        self.drops = [keras.layers.Dropout(dropout) for _ in range(3)]

    def build(self, x_shape, memory_shape=None):
        self.self_attention.build(x_shape)
        self.cross_attention.build(x_shape, memory_shape or x_shape)
        for sublayer in (self.feed_forward, self.self_attention_norm, self.cross_attention_norm,
                         self.feed_forward_norm):
            sublayer.build(x_shape)

    def call(self, x, memory=None, self_mask=None, memory_mask=None, cache=None, cache_index=None, training=False,
             return_attention_scores=False, packing=None, memory_packing=None):
        self_cache = None if cache is None else cache["self"]
        cross_cache = None if cache is None else cache["cross"]
        x, extras = residual(
            x, lambda h: self.self_attention(h, attention_mask=self_mask, cache=self_cache, cache_index=cache_index,
                                             training=training, packing=packing),
            self.self_attention_norm, self.drops[0], self.norm_position, training)
        self_cache = extras[0] if cache is not None else None
        x, extras = residual(
            x, lambda h: self.cross_attention(h, memory, attention_mask=memory_mask, cache=cross_cache,
                                              training=training, return_attention_scores=return_attention_scores,
                                              packing=packing, memory_packing=memory_packing),
            self.cross_attention_norm, self.drops[1], self.norm_position, training)
        x, _ = residual(x, lambda h: self.feed_forward(h, training=training),
                        self.feed_forward_norm, self.drops[2], self.norm_position, training)
        result = (x,) + extras
        if cache is not None:
            result += ({"self": self_cache, "cross": cross_cache},)
        return result[0] if len(result) == 1 else result

    def get_config(self):
        return {**super().get_config(), "d_model": self.d_model, "num_heads": self.num_heads, "d_ff": self.d_ff,
                "dropout": self.dropout, "attention_dropout": self.attention_dropout, "ffn_dropout": self.ffn_dropout,
                "activation": self.activation, "norm_position": self.norm_position,
                "layer_norm_epsilon": self.layer_norm_epsilon}


@keras.saving.register_keras_serializable(package="tf_transformer")
class Decoder(keras.layers.Layer):
    """A stack of `num_layers` DecoderLayers (plus a final LayerNorm when pre-LN).

    Call arguments:
        As `DecoderLayer`, with `cache` a dict {"layer_i": layer cache} from `initial_cache`.

    Returns:
        x [B, T, d_model]; then a list of per-layer cross-attention weights [B, h, T, S] if asked; then the
        updated cache if one was given.
    """

    def __init__(self, num_layers, d_model, num_heads, d_ff, dropout=0.1, attention_dropout=0.0, ffn_dropout=0.0,
                 activation="relu", norm_position="post", layer_norm_epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.layer_kwargs = dict(d_model=d_model, num_heads=num_heads, d_ff=d_ff, dropout=dropout,
                                 attention_dropout=attention_dropout, ffn_dropout=ffn_dropout,
                                 activation=activation,
                                 norm_position=norm_position, layer_norm_epsilon=layer_norm_epsilon)
        self.num_layers = num_layers
        self.stack = [DecoderLayer(**self.layer_kwargs, name=f"layer_{i}") for i in range(num_layers)]
        self.final_norm = (LayerNormalization(layer_norm_epsilon, name="final_norm")
                           if norm_position == "pre" else None)

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
             return_attention_scores=False, packing=None, memory_packing=None):
        weights, new_cache = [], {}
        for i, layer in enumerate(self.stack):
            result = layer(x, memory, self_mask=self_mask, memory_mask=memory_mask,
                           cache=None if cache is None else cache[f"layer_{i}"], cache_index=cache_index,
                           training=training, return_attention_scores=return_attention_scores, packing=packing,
                           memory_packing=memory_packing)
            result = result if isinstance(result, tuple) else (result,)
            x = result[0]
            if return_attention_scores:
                weights.append(result[1])
            if cache is not None:
                new_cache[f"layer_{i}"] = result[-1]
        if self.final_norm is not None:
            x = self.final_norm(x, training=training)
        result = (x,) + ((weights,) if return_attention_scores else ()) + ((new_cache,) if cache is not None else ())
        return result[0] if len(result) == 1 else result

    def get_config(self):
        return {**super().get_config(), "num_layers": self.num_layers, **self.layer_kwargs}
