"""Multi-head scaled dot-product attention (paper §3.2) with a static-shape cache for incremental decoding."""

import math
from typing import NamedTuple

import keras
import tensorflow as tf
from keras import ops

from tf_transformer.layers.dropout import Dropout
from tf_transformer.layers.projection import Projection

_MASKED = -1e9  # added to masked scores; exp() of it underflows to exactly 0 in float32


class AttentionOutput(NamedTuple):
    """What `MultiHeadAttention` returns, every field a tensor whatever the call asked for (unpacks as a tuple).

    Attributes:
        output: float tensor [B, T, d_model] ([N, d_model] when the query came packed).
        weights: float32 [B, h, T, S], the attention weights (before dropout).
        cache: {"key", "value"} [B, h, L, d_k], the keys and values attended over: self-attention given a `cache`,
            that cache updated (L its length); self-attention without one, this query's (L = T), which is what a
            cache of these positions holds; cross-attention, the memory's (L = S).
    """

    output: object
    weights: object
    cache: object


@keras.saving.register_keras_serializable(package="tf_transformer")
class MultiHeadAttention(keras.layers.Layer):
    """softmax(QKᵀ/√d_k)·V over `num_heads` heads of width d_k = d_model / num_heads, then an output projection.

    Self-attention projects Q, K and V with one fused [d_model, 3·d_model] matrix; cross-attention projects Q from
    the query and K, V (fused) from the encoder output, which `project_key_value` does once per decoded sequence.
    The softmax runs in float32 whatever the compute dtype (mixed precision stays stable).

    Args:
        d_model: width of inputs and outputs.
        num_heads: number of heads h; must divide d_model.
        dropout: dropout rate on the attention weights.
        self_attention: True for Q, K, V from `query` (fused QKV); False for K, V from `memory`.

    Call arguments:
        query: float tensor [B, T, d_model].
        memory: float tensor [B, S, d_model], the keys/values source of cross-attention (ignored for
            self-attention, and for cross-attention when `cache` holds its projected keys/values).
        attention_mask: bool tensor broadcastable to [B, T, S] (S = T for self-attention, or the cache length);
            True where a query may attend to a key. None attends everywhere.
        cache: dict {"key", "value"} of float tensors [B, h, L, d_k]. Self-attention: the static-shape decoding
            cache; the new keys/values are written at positions cache_index .. cache_index + T - 1 and attention
            runs over all L slots (mask the unwritten ones). Cross-attention: keys/values from `project_key_value`.
        cache_index: int scalar, where self-attention writes into `cache`.
        training: whether dropout is active.
        packing, memory_packing: `Packing`s of the query and memory tokens when those come packed, [N, d_model]
            (see tf_transformer/layers/packing.py); the output is then packed too. None: padded [B, ·, d_model].

    Returns:
        an `AttentionOutput` (output [B, T, d_model] or packed [N, d_model], weights [B, h, T, S], cache), always
        all three.

    Example:
        >>> attention = MultiHeadAttention(d_model=64, num_heads=4)
        >>> x = keras.random.normal((2, 5, 64))
        >>> attention(x, attention_mask=causal_mask(5)).output.shape
        (2, 5, 64)
    """

    def __init__(self, d_model, num_heads, dropout=0.0, self_attention=True, **kwargs):
        super().__init__(**kwargs)
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.d_model, self.num_heads, self.dropout, self.self_attention = d_model, num_heads, dropout, self_attention
        self.head_size = d_model // num_heads
        if self_attention:
            self.qkv = Projection(3 * d_model, name="qkv")
        else:
            self.query_projection = Projection(d_model, name="query")
            self.key_value = Projection(2 * d_model, name="key_value")
        self.output_projection = Projection(d_model, name="output")
        self.weights_dropout = Dropout(dropout)

    def build(self, query_shape, memory_shape=None):
        if self.self_attention:
            self.qkv.build(query_shape)
        else:
            self.query_projection.build(query_shape)
            self.key_value.build(memory_shape or query_shape)
        self.output_projection.build((*query_shape[:-1], self.d_model))

    def _split_heads(self, x, parts):
        """[B, T, parts·d_model] → `parts` tensors [B, h, T, d_k]: one transpose for all parts, then a split of the
        leading axis (which TensorFlow does without copying)."""
        length = ops.shape(x)[1]
        if parts == 1:
            return [ops.transpose(ops.reshape(x, (-1, length, self.num_heads, self.head_size)), (0, 2, 1, 3))]
        x = ops.reshape(x, (-1, length, parts, self.num_heads, self.head_size))
        x = ops.transpose(x, (2, 0, 3, 1, 4))  # [parts, B, h, T, d_k]
        return [ops.squeeze(part, 0) for part in ops.split(x, parts, axis=0)]

    def project_key_value(self, memory, memory_packing=None):
        """Cross-attention keys and values of the encoder output [B, S, d_model] (or [N, d_model] with its
        `memory_packing`): {"key", "value"} [B, h, S, d_k]."""
        key, value = self._split_heads(_unpacked(self.key_value(memory), memory_packing), 2)
        return {"key": key, "value": value}

    def empty_cache(self, batch_size, max_length, dtype="float32"):
        """Zero self-attention cache {"key", "value"} of static shape [batch_size, h, max_length, d_k]."""
        shape = (batch_size, self.num_heads, max_length, self.head_size)
        return {"key": ops.zeros(shape, dtype), "value": ops.zeros(shape, dtype)}

    def call(self, query, memory=None, attention_mask=None, cache=None, cache_index=None, training=False,
             packing=None, memory_packing=None):
        # Heads are split into [B, h, T, d_k] once; QKᵀ and AV are then batched matmuls with no transposes
        # (Kᵀ is a matmul flag), and one transpose joins the heads again.
        if self.self_attention:
            q, key, value = self._split_heads(_unpacked(self.qkv(query), packing), 3)
            new = {"key": key, "value": value}
            cache = new if cache is None else _write_cache(cache, new, cache_index)
        else:
            (q,) = self._split_heads(_unpacked(self.query_projection(query), packing), 1)
            cache = cache if cache is not None else self.project_key_value(memory, memory_packing)
        key, value = cache["key"], cache["value"]
        q = q * ops.cast(1.0 / math.sqrt(self.head_size), q.dtype)
        scores = ops.cast(tf.linalg.matmul(q, ops.cast(key, q.dtype), transpose_b=True), "float32")  # [B, h, T, S]
        if attention_mask is not None:
            mask = ops.expand_dims(ops.cast(attention_mask, "bool"), 1)  # [B, 1, T, S]: same for every head
            scores = ops.where(mask, scores, ops.cast(_MASKED, scores.dtype))
        weights = tf.nn.softmax(scores, axis=-1)  # float32; keras.ops.softmax warns on every call when S == 1
        dropped = self.weights_dropout(ops.cast(weights, self.compute_dtype), training=training)
        context = ops.transpose(ops.matmul(dropped, ops.cast(value, self.compute_dtype)), (0, 2, 1, 3))
        context = ops.reshape(context, (-1, ops.shape(context)[1], self.d_model))
        output = self.output_projection(context if packing is None else packing.pack(context))
        return AttentionOutput(output, weights, cache)

    def get_config(self):
        return {**super().get_config(), "d_model": self.d_model, "num_heads": self.num_heads,
                "dropout": self.dropout, "self_attention": self.self_attention}


def _unpacked(x, packing):
    """x as [B, T, ·]: unpacked from [N, ·] by `packing`, or as it is when packing is None."""
    return x if packing is None else packing.unpack(x)


def _write_cache(cache, new, cache_index):
    """The cache {"key", "value"} [B, h, L, d_k] with new {"key", "value"} [B, h, T, d_k] written at positions
    cache_index .. cache_index + T - 1.

    One `tensor_scatter_nd_update` per tensor on its [B·h, L, d_k] view: a copy of the cache plus T rows, faster
    than a broadcasting `where` over all L slots (which reads three tensors), and an op that TensorFlow Serving, XLA
    and the TFLite converter (builtins only) all take. Key and value share the indices.
    """
    heads, length, width = cache["key"].shape[1], tf.shape(cache["key"])[2], cache["key"].shape[3]
    rows, new_length = tf.shape(cache["key"])[0] * heads, tf.shape(new["key"])[2]
    positions = tf.cast(cache_index, tf.int32) + tf.range(new_length)  # [T]
    indices = tf.stack([tf.broadcast_to(tf.range(rows)[:, None], (rows, new_length)),
                        tf.broadcast_to(positions[None], (rows, new_length))], axis=-1)  # [B·h, T, 2]

    def write(old, update):  # update [B, h, T, d_k] -> rows [B·h, T, d_k]
        update = tf.reshape(tf.cast(update, old.dtype), (rows, new_length, width))
        flat = tf.tensor_scatter_nd_update(tf.reshape(old, (rows, length, width)), indices, update)
        return tf.reshape(flat, (-1, heads, length, width))

    return {name: write(cache[name], new[name]) for name in ("key", "value")}


def causal_mask(length, key_length=None, start=0):
    """bool [1, length, key_length]: query t (at position start + t) may attend to keys at positions ≤ start + t."""
    key_length = length if key_length is None else key_length
    query_positions = ops.arange(length, dtype="int32")[:, None] + ops.cast(start, "int32")
    return (ops.arange(key_length, dtype="int32")[None, :] <= query_positions)[None]


def padding_mask(ids, pad_id=0):
    """bool [B, 1, S]: True at real tokens of ids [B, S], for attention over those keys."""
    return ops.expand_dims(ops.not_equal(ids, pad_id), 1)  # not [:, None]: TFLite has no bool strided slice
