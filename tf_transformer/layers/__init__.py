"""Keras layers of the Transformer, one concept per module; all registered under package "tf_transformer"."""

from tf_transformer.layers.attention import AttentionOutput, MultiHeadAttention, causal_mask, padding_mask
from tf_transformer.layers.decoder import Decoder, DecoderLayer, DecoderOutput
from tf_transformer.layers.dropout import Dropout
from tf_transformer.layers.embedding import PositionalEncoding, TokenEmbedding, sinusoid_table
from tf_transformer.layers.encoder import Encoder, EncoderLayer
from tf_transformer.layers.feed_forward import FeedForward
from tf_transformer.layers.normalization import LayerNormalization
from tf_transformer.layers.options import LayerOptions
from tf_transformer.layers.projection import Projection

__all__ = ["AttentionOutput", "MultiHeadAttention", "causal_mask", "padding_mask", "Decoder", "DecoderLayer",
           "DecoderOutput", "Dropout", "PositionalEncoding", "TokenEmbedding", "sinusoid_table", "Encoder",
           "EncoderLayer", "FeedForward", "LayerNormalization", "LayerOptions", "Projection"]
