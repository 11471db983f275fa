"""The encoder (paper §3.1): N layers of self-attention and feed-forward, each in a residual connection."""

import keras

from tf_transformer.layers.dropout import Dropout
from tf_transformer.layers.options import ConfiguredByOptions
from tf_transformer.layers.residual import residual


@keras.saving.register_keras_serializable(package="tf_transformer")
class EncoderLayer(ConfiguredByOptions, keras.layers.Layer):
    """Self-attention over the source, then a feed-forward block.

    Args:
        options: the `LayerOptions` (d_model, num_heads, d_ff, dropouts, activation, norm_position, ε).

    Call arguments:
        x: float tensor [B, S, d_model].
        attention_mask: bool [B, 1, S] (padding) or [B, S, S]; True where attending is allowed.
        training: whether dropout is active.
        packing: the `Packing` of the source when x comes packed, [N, d_model] (the output is then packed too).

    Returns:
        float tensor [B, S, d_model] (or [N, d_model]).

    Example:
        >>> layer = EncoderLayer(LayerOptions(d_model=64, num_heads=4, d_ff=256))
        >>> layer(keras.random.normal((2, 5, 64))).shape
        (2, 5, 64)
    """

    def __init__(self, options, **kwargs):
        super().__init__(**kwargs)
        self.options = options
        self.self_attention = options.attention("self_attention")
        self.feed_forward = options.feed_forward()
        self.attention_norm = options.norm("attention_norm")
        self.feed_forward_norm = options.norm("feed_forward_norm")
        self.attention_dropout_layer = Dropout(options.dropout)
        self.feed_forward_dropout = Dropout(options.dropout)

    def build(self, x_shape):
        for sublayer in (self.self_attention, self.feed_forward, self.attention_norm, self.feed_forward_norm):
            sublayer.build(x_shape)

    def call(self, x, attention_mask=None, training=False, packing=None):
        norm_position = self.options.norm_position
        x = residual(x, lambda h: self.self_attention(h, attention_mask=attention_mask, training=training,
                                                      packing=packing).output,
                     self.attention_norm, self.attention_dropout_layer, norm_position, training)
        return residual(x, lambda h: self.feed_forward(h, training=training),
                        self.feed_forward_norm, self.feed_forward_dropout, norm_position, training)


@keras.saving.register_keras_serializable(package="tf_transformer")
class Encoder(ConfiguredByOptions, keras.layers.Layer):
    """A stack of `num_layers` EncoderLayers (plus a final LayerNorm when pre-LN).

    Args:
        num_layers: N.
        options: the `LayerOptions` of every EncoderLayer.

    Call arguments:
        x: embedded source [B, S, d_model]; attention_mask: bool [B, 1, S]; training; packing: as EncoderLayer.

    Returns:
        float tensor [B, S, d_model] (or [N, d_model] packed), the encoder output ("memory").
    """

    def __init__(self, num_layers, options, **kwargs):
        super().__init__(**kwargs)
        self.num_layers, self.options = num_layers, options
        self.stack = [EncoderLayer(options, name=f"layer_{i}") for i in range(num_layers)]
        self.final_norm = options.norm("final_norm") if options.norm_position == "pre" else None

    def build(self, x_shape):
        for sublayer in self.stack + ([self.final_norm] if self.final_norm is not None else []):
            sublayer.build(x_shape)

    def call(self, x, attention_mask=None, training=False, packing=None):
        for layer in self.stack:
            x = layer(x, attention_mask=attention_mask, training=training, packing=packing)
        return self.final_norm(x, training=training) if self.final_norm is not None else x

    def get_config(self):
        return {**super().get_config(), "num_layers": self.num_layers}
