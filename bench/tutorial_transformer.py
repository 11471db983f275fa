"""Baseline for bench/train.py: a post-LN Transformer built from `keras.layers.MultiHeadAttention`.

The structure follows the way TensorFlow's "Neural machine translation with a Transformer and Keras" tutorial
builds its model (written here from that description, nothing imported): a PositionalEmbedding (embedding
× √d_model + concatenated sin/cos table), BaseAttention subclasses (GlobalSelfAttention, CausalSelfAttention,
CrossAttention) that each do `LayerNorm(x + MHA(x, ...))`, a FeedForward block `LayerNorm(x + Dropout(W2 relu(W1 x)))`,
Encoder / Decoder stacks and a final untied Dense softmax projection.

Differences from the tutorial, so that the comparison with `tf_transformer.Transformer` is at equal size:
- `key_dim = d_model // num_heads` (the tutorial passes `key_dim=d_model`, making every head d_model wide);
- attention-probability dropout is `config.attention_dropout` (ours), residual/embedding/FFN dropout `config.dropout`;
- padding masks are passed explicitly as `query_mask` / `value_mask` (what the tutorial gets implicitly from
  `Embedding(mask_zero=True)` through Keras mask propagation), so both models mask the same positions.

Call arguments of `TutorialTransformer`: (source_ids int [B, S], target_in int [B, T]), 0 = padding.
Returns float32 logits [B, T, target_vocab_size].
"""

import keras
import numpy as np
from keras import ops


def positional_encoding(length, depth):
    """The tutorial's table: sin on the first depth/2 channels, cos on the rest; float32 [length, depth]."""
    positions = np.arange(length)[:, None]
    rates = 1.0 / (10000 ** (np.arange(depth // 2)[None, :] / (depth / 2)))
    angles = positions * rates
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=-1).astype("float32")


class PositionalEmbedding(keras.layers.Layer):
    """ids int [B, T] -> float [B, T, d_model] = Embedding(ids) · √d_model + PE[:T]."""

    def __init__(self, vocab_size, d_model, max_length, **kwargs):
        super().__init__(**kwargs)
        self.d_model = d_model
        self.embedding = keras.layers.Embedding(vocab_size, d_model)
        self.table = positional_encoding(max_length, d_model)

    def call(self, ids):
        x = self.embedding(ids) * ops.sqrt(ops.cast(self.d_model, "float32"))
        return x + ops.convert_to_tensor(self.table)[None, : ops.shape(ids)[1], :]  # works for unknown lengths


class BaseAttention(keras.layers.Layer):
    """keras MultiHeadAttention followed by residual add and LayerNormalization (post-LN)."""

    def __init__(self, num_heads, d_model, attention_dropout, **kwargs):
        super().__init__(**kwargs)
        self.mha = keras.layers.MultiHeadAttention(num_heads, d_model // num_heads, dropout=attention_dropout)
        self.layernorm = keras.layers.LayerNormalization()
        self.add = keras.layers.Add()


class GlobalSelfAttention(BaseAttention):
    """x float [B, S, D], mask bool [B, S] -> [B, S, D]."""

    def call(self, x, mask, training=False):
        out = self.mha(x, x, query_mask=mask, value_mask=mask, training=training)
        return self.layernorm(self.add([x, out]))


class CausalSelfAttention(BaseAttention):
    """x float [B, T, D], mask bool [B, T] -> [B, T, D]; position t attends to positions <= t."""

    def call(self, x, mask, training=False):
        out = self.mha(x, x, query_mask=mask, value_mask=mask, use_causal_mask=True, training=training)
        return self.layernorm(self.add([x, out]))


class CrossAttention(BaseAttention):
    """x float [B, T, D] attends to context float [B, S, D]; masks bool [B, T], [B, S] -> [B, T, D]."""

    def call(self, x, context, x_mask, context_mask, training=False):
        out = self.mha(x, context, query_mask=x_mask, value_mask=context_mask, training=training)
        return self.layernorm(self.add([x, out]))


class FeedForward(keras.layers.Layer):
    """x float [B, T, D] -> LayerNorm(x + Dropout(Dense(D)(Dense(d_ff, relu)(x))))."""

    def __init__(self, d_model, d_ff, dropout, **kwargs):
        super().__init__(**kwargs)
        self.seq = keras.Sequential([keras.layers.Dense(d_ff, activation="relu"), keras.layers.Dense(d_model),
                                     keras.layers.Dropout(dropout)])
        self.add = keras.layers.Add()
        self.layer_norm = keras.layers.LayerNormalization()

    def call(self, x, training=False):
        return self.layer_norm(self.add([x, self.seq(x, training=training)]))


class EncoderLayer(keras.layers.Layer):
    def __init__(self, d_model, num_heads, d_ff, dropout, attention_dropout, **kwargs):
        super().__init__(**kwargs)
        self.self_attention = GlobalSelfAttention(num_heads, d_model, attention_dropout)
        self.ffn = FeedForward(d_model, d_ff, dropout)

    def call(self, x, mask, training=False):
        return self.ffn(self.self_attention(x, mask, training=training), training=training)


class Encoder(keras.layers.Layer):
    """source_ids int [B, S] -> (memory float [B, S, D], mask bool [B, S])."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        c = config
        self.pos_embedding = PositionalEmbedding(c.source_vocab_size, c.d_model, c.max_length)
        self.dropout = keras.layers.Dropout(c.dropout)
        self.enc_layers = [EncoderLayer(c.d_model, c.num_heads, c.d_ff, c.dropout, c.attention_dropout)
                           for _ in range(c.num_layers)]

    def call(self, source_ids, training=False):
        mask = ops.not_equal(source_ids, 0)
        x = self.dropout(self.pos_embedding(source_ids), training=training)
        for layer in self.enc_layers:
            x = layer(x, mask, training=training)
        return x, mask


class DecoderLayer(keras.layers.Layer):
    def __init__(self, d_model, num_heads, d_ff, dropout, attention_dropout, **kwargs):
        super().__init__(**kwargs)
        self.causal_self_attention = CausalSelfAttention(num_heads, d_model, attention_dropout)
        self.cross_attention = CrossAttention(num_heads, d_model, attention_dropout)
        self.ffn = FeedForward(d_model, d_ff, dropout)

    def call(self, x, context, x_mask, context_mask, training=False):
        x = self.causal_self_attention(x, x_mask, training=training)
        x = self.cross_attention(x, context, x_mask, context_mask, training=training)
        return self.ffn(x, training=training)


class Decoder(keras.layers.Layer):
    """target_in int [B, T], memory float [B, S, D], memory mask bool [B, S] -> float [B, T, D]."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        c = config
        self.pos_embedding = PositionalEmbedding(c.target_vocab_size, c.d_model, c.max_length)
        self.dropout = keras.layers.Dropout(c.dropout)
        self.dec_layers = [DecoderLayer(c.d_model, c.num_heads, c.d_ff, c.dropout, c.attention_dropout)
                           for _ in range(c.decoder_layers)]

    def call(self, target_ids, context, context_mask, training=False):
        mask = ops.not_equal(target_ids, 0)
        x = self.dropout(self.pos_embedding(target_ids), training=training)
        for layer in self.dec_layers:
            x = layer(x, context, mask, context_mask, training=training)
        return x


class TutorialTransformer(keras.Model):
    """Encoder, decoder and an untied Dense projection to target logits, sized by a `ModelConfig`.

    Call arguments:
        inputs: (source_ids int [B, S], target_in int [B, T]).

    Returns:
        float32 logits [B, T, target_vocab_size].
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.final_layer = keras.layers.Dense(config.target_vocab_size)

    def call(self, inputs, training=False):
        source_ids, target_ids = inputs
        context, context_mask = self.encoder(source_ids, training=training)
        x = self.decoder(target_ids, context, context_mask, training=training)
        return self.final_layer(x)
