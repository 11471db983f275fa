"""Packed tokens: position-wise layers run on the real tokens of a padded batch only ("remove padding").

Projections, feed-forward blocks, LayerNorms, dropout and residual adds act on each position alone, so in
training they take the real tokens gathered into one [N, d] matrix (N = real tokens in the batch) and skip
the padding; attention scatters its projected queries, keys and values back to the padded [B, T, ·] layout
(its masks and score matrices need it) and gathers its output again. On randomly batched data, where half the
positions are padding, that halves the work of every matmul (bench/train.py); on length-bucketed batches it
costs a gather and a scatter per attention layer.

    packing = Packing(target_ids)          # where the real tokens of int [B, T] are
    x = packing.pack(embedded)             # [B, T, d] -> [N, d]
    y = packing.unpack(x)                  # [N, d] -> [B, T, d], zeros at padding
"""

import tensorflow as tf

from tf_transformer.config import PAD_ID


class Packing:
    """The real-token positions of a padded id batch, to move tensors between [B, T, ...] and [N, ...].

    Args:
        ids: int [B, T] with `pad_id` at padding.
        pad_id: the padding id.

    Attributes:
        indices: int32 [N, 1], row-major positions b·T + t of the real tokens.
        batch_size, length: B and T (int32 scalars).
    """

    def __init__(self, ids, pad_id=PAD_ID):
        shape = tf.shape(ids)
        self.batch_size, self.length = shape[0], shape[1]
        self.indices = tf.cast(tf.where(tf.reshape(tf.not_equal(ids, pad_id), [-1])), tf.int32)

    def pack(self, x):
        """[B, T, ...] -> [N, ...]: the real-token rows."""
        inner = [size if size is not None else tf.shape(x)[i + 2] for i, size in enumerate(x.shape[2:])]
        return tf.gather_nd(tf.reshape(x, tf.stack([-1, *inner])), self.indices)

    def unpack(self, x):
        """[N, ...] -> [B, T, ...] with zeros at the padding positions."""
        inner = [size if size is not None else tf.shape(x)[i + 1] for i, size in enumerate(x.shape[1:])]
        flat = tf.scatter_nd(self.indices, x, tf.stack([self.batch_size * self.length, *inner]))
        return tf.reshape(flat, tf.stack([self.batch_size, self.length, *inner]))  # static inner sizes kept
