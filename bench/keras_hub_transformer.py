"""Peer for bench/train.py: an encoder–decoder Transformer built from KerasHub's layers (the `bench` extra).

`keras_hub.layers.TokenAndPositionEmbedding` (learned positions, as KerasHub's seq2seq examples use),
`TransformerEncoder` / `TransformerDecoder` (post-LN, `keras.layers.MultiHeadAttention` inside, the causal mask
built by the decoder) and an untied `Dense` softmax, at the size of a `ModelConfig`: same d_model, layers, heads,
d_ff and dropout. KerasHub's layers take one dropout rate for residuals and attention weights alike; it is
`config.dropout` here, as its examples use it.

Call arguments of `KerasHubTransformer`: (source_ids int [B, S], target_in int [B, T]), 0 = padding.
Returns float32 logits [B, T, target_vocab_size].
"""

import keras
import keras_hub
from keras import ops


class KerasHubTransformer(keras.Model):
    """KerasHub's encoder and decoder layers composed as `tf_transformer.Transformer` composes ours."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        c = self.config = config
        self.source_embedding = keras_hub.layers.TokenAndPositionEmbedding(
            c.source_vocab_size, c.max_length, c.d_model, name="source_embedding")
        self.target_embedding = keras_hub.layers.TokenAndPositionEmbedding(
            c.target_vocab_size, c.max_length, c.d_model, name="target_embedding")
        layer = dict(intermediate_dim=c.d_ff, num_heads=c.num_heads, dropout=c.dropout, activation=c.activation,
                     layer_norm_epsilon=c.layer_norm_epsilon, normalize_first=c.norm_position == "pre")
        self.encoders = [keras_hub.layers.TransformerEncoder(**layer, name=f"encoder_{i}")
                         for i in range(c.num_layers)]
        self.decoders = [keras_hub.layers.TransformerDecoder(**layer, name=f"decoder_{i}")
                         for i in range(c.decoder_layers)]
        self.output_projection = keras.layers.Dense(c.target_vocab_size, name="output_projection")

    def call(self, inputs, training=False):
        source_ids, target_ids = inputs
        source_mask, target_mask = ops.not_equal(source_ids, 0), ops.not_equal(target_ids, 0)
        memory = self.source_embedding(source_ids)
        for encoder in self.encoders:
            memory = encoder(memory, padding_mask=source_mask, training=training)
        x = self.target_embedding(target_ids)
        for decoder in self.decoders:
            x = decoder(x, memory, decoder_padding_mask=target_mask, encoder_padding_mask=source_mask,
                        training=training)
        return ops.cast(self.output_projection(x), "float32")
