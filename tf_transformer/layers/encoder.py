"""The encoder (paper §3.1): N layers of self-attention and feed-forward, each in a residual connection."""

import keras

from tf_transformer.layers.attention import MultiHeadAttention
from tf_transformer.layers.feed_forward import FeedForward
from tf_transformer.layers.normalization import LayerNormalization
from tf_transformer.layers.residual import residual


@keras.saving.register_keras_serializable(package="tf_transformer")
class EncoderLayer(keras.layers.Layer):
    """Self-attention over the source, then a feed-forward block.

    Args:
        d_model, num_heads, d_ff: widths (see `ModelConfig`).
        dropout: residual dropout; attention_dropout: on attention weights; ffn_dropout: on feed-forward
            hidden activations.
        activation: feed-forward activation; norm_position: "post" or "pre"; layer_norm_epsilon: LayerNorm ε.

    Call arguments:
        x: float tensor [B, S, d_model].
        attention_mask: bool [B, 1, S] (padding) or [B, S, S]; True where attending is allowed.
        training: whether dropout is active.
        packing: the `Packing` of the source when x comes packed, [N, d_model] (the output is then packed too).

    Returns:
        float tensor [B, S, d_model] (or [N, d_model]).
    """

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, attention_dropout=0.0, ffn_dropout=0.0,
                 activation="relu", norm_position="post", layer_norm_epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.d_model, self.num_heads, self.d_ff = d_model, num_heads, d_ff
        self.dropout, self.attention_dropout, self.ffn_dropout = dropout, attention_dropout, ffn_dropout
        self.activation = activation
        self.norm_position, self.layer_norm_epsilon = norm_position, layer_norm_epsilon
        self.self_attention = MultiHeadAttention(d_model, num_heads, attention_dropout, name="self_attention")
        self.feed_forward = FeedForward(d_model, d_ff, activation, ffn_dropout, name="feed_forward")
        self.attention_norm = LayerNormalization(layer_norm_epsilon, name="attention_norm")
        self.feed_forward_norm = LayerNormalization(layer_norm_epsilon, name="feed_forward_norm")
        self.attention_dropout_layer = keras.layers.Dropout(dropout)
        self.feed_forward_dropout = keras.layers.Dropout(dropout)

    def build(self, x_shape):
        for sublayer in (self.self_attention, self.feed_forward, self.attention_norm, self.feed_forward_norm):
            sublayer.build(x_shape)

    def call(self, x, attention_mask=None, training=False, packing=None):
        x, _ = residual(x, lambda h: self.self_attention(h, attention_mask=attention_mask, training=training,
                                                         packing=packing),
                        self.attention_norm, self.attention_dropout_layer, self.norm_position, training)
        x, _ = residual(x, lambda h: self.feed_forward(h, training=training),
                        self.feed_forward_norm, self.feed_forward_dropout, self.norm_position, training)
        return x

    def get_config(self):
        return {**super().get_config(), "d_model": self.d_model, "num_heads": self.num_heads, "d_ff": self.d_ff,
                "dropout": self.dropout, "attention_dropout": self.attention_dropout, "ffn_dropout": self.ffn_dropout,
                "activation": self.activation, "norm_position": self.norm_position,
                "layer_norm_epsilon": self.layer_norm_epsilon}


@keras.saving.register_keras_serializable(package="tf_transformer")
class Encoder(keras.layers.Layer):
    """A stack of `num_layers` EncoderLayers (plus a final LayerNorm when pre-LN).

    Args:
        num_layers: N.
        **layer_kwargs: the EncoderLayer arguments (d_model, num_heads, d_ff, dropout, ...).

    Call arguments:
        x: embedded source [B, S, d_model]; attention_mask: bool [B, 1, S]; training; packing: as EncoderLayer.

    Returns:
        float tensor [B, S, d_model] (or [N, d_model] packed), the encoder output ("memory").
    """

    def __init__(self, num_layers, d_model, num_heads, d_ff, dropout=0.1, attention_dropout=0.0, ffn_dropout=0.0,
                 activation="relu", norm_position="post", layer_norm_epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.layer_kwargs = dict(d_model=d_model, num_heads=num_heads, d_ff=d_ff, dropout=dropout,
                                 attention_dropout=attention_dropout, ffn_dropout=ffn_dropout,
                                 activation=activation,
                                 norm_position=norm_position, layer_norm_epsilon=layer_norm_epsilon)
        self.num_layers = num_layers
        self.stack = [EncoderLayer(**self.layer_kwargs, name=f"layer_{i}") for i in range(num_layers)]
        self.final_norm = (LayerNormalization(layer_norm_epsilon, name="final_norm")
                           if norm_position == "pre" else None)

    def build(self, x_shape):
        for sublayer in self.stack + ([self.final_norm] if self.final_norm is not None else []):
            sublayer.build(x_shape)

    def call(self, x, attention_mask=None, training=False, packing=None):
        for layer in self.stack:
            x = layer(x, attention_mask=attention_mask, training=training, packing=packing)
        return self.final_norm(x, training=training) if self.final_norm is not None else x

    def get_config(self):
        return {**super().get_config(), "num_layers": self.num_layers, **self.layer_kwargs}
