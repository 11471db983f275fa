"""How long to decode, and what to do with sources the model cannot hold.

Every method decodes into a static-shape buffer of `cache_length` positions (one tf.while_loop, no growing
tensors) while each row stops at its own limit: by default its real source length + `max_extra_length`, capped by
`model.config.max_length` (the positions the model has). A row of only padding gets limit 0: an empty output.
"""

import warnings

import numpy as np
import tensorflow as tf

from tf_transformer.config import PAD_ID

DEFAULT_MAX_EXTRA_LENGTH = 50


class TruncationWarning(UserWarning):
    """A source had more tokens than the model's max_length; the extra tokens were dropped before decoding."""


def prepare_source(model, source_ids):
    """The source as the decoder sees it: int32 [B, S'] with S' = min(S, max_length) and at least one column.

    Tokens beyond `model.config.max_length` are cut (with a `TruncationWarning` when the values or the static
    shape show it; inside a traced function with an unknown length the cut is silent, see `warn_if_truncated`).
    A zero-width source [B, 0] gets one padding column, so it decodes to empty outputs instead of failing.
    """
    source_ids = tf.cast(tf.convert_to_tensor(source_ids), tf.int32)
    limit = model.config.max_length
    value = tf.get_static_value(source_ids)
    if value is not None:
        warn_if_truncated(model, value)
    elif source_ids.shape[1] is not None and source_ids.shape[1] > limit:
        warnings.warn(f"source width {source_ids.shape[1]} exceeds the model's max_length {limit}: tokens after "
                      f"position {limit} are dropped", TruncationWarning, stacklevel=3)
    source_ids = source_ids[:, :limit]
    missing = tf.maximum(1 - tf.shape(source_ids)[1], 0)
    return tf.pad(source_ids, [[0, 0], [0, missing]], constant_values=PAD_ID)


def warn_if_truncated(model, source_ids):
    """Warn (`TruncationWarning`) if any row of the int array source_ids [B, S] has real tokens past max_length.

    Returns:
        True when something will be truncated.
    """
    limit = model.config.max_length
    source_ids = np.asarray(source_ids)
    if source_ids.ndim != 2 or source_ids.shape[1] <= limit:
        return False
    cut = np.flatnonzero(np.any(source_ids[:, limit:] != PAD_ID, axis=1))
    if cut.size:
        longest = int(np.max(np.sum(source_ids != PAD_ID, axis=1)))
        warnings.warn(f"{cut.size} source row(s) (first: row {cut[0]}) have up to {longest} tokens, more than the "
                      f"model's max_length {limit}: they are truncated to {limit} tokens (split long inputs)",
                      TruncationWarning, stacklevel=3)
    return bool(cut.size)


def drop_padding_columns(target_ids):
    """target_ids int32 [..., L] cut to [..., T], T = the most non-zero tokens of any row (searches never emit 0)."""
    lengths = tf.reduce_sum(tf.cast(tf.not_equal(target_ids, PAD_ID), tf.int32), axis=-1)
    longest = tf.reduce_max(tf.concat([tf.reshape(lengths, [-1]), [0]], axis=0))
    return target_ids[..., :longest]


def decode_lengths(model, source_ids, max_length=None, max_extra_length=DEFAULT_MAX_EXTRA_LENGTH):
    """The decoding buffer length and each row's own limit.

    Args:
        model: the Transformer (its config.max_length caps everything).
        source_ids: int32 [B, S] from `prepare_source`.
        max_length: None (each row: its source length + max_extra_length) or a number of output tokens for all
            rows (int or int32 scalar tensor).
        max_extra_length: output tokens allowed beyond the source length when max_length is None.

    Returns:
        (cache_length: int or int32 scalar L, the static size of the cache and output buffer;
         row_limits: int32 [B], the most tokens (including [END]) each row may produce; 0 for empty sources).
    """
    cap = model.config.max_length
    source_lengths = tf.reduce_sum(tf.cast(tf.not_equal(source_ids, PAD_ID), tf.int32), axis=1)
    if max_length is None:
        cache_length = tf.minimum(tf.shape(source_ids)[1] + max_extra_length, cap)
        row_limits = tf.minimum(source_lengths + max_extra_length, cap)
    else:
        static = tf.get_static_value(max_length)
        cache_length = min(int(static), cap) if static is not None else tf.minimum(max_length, cap)
        row_limits = tf.fill(tf.shape(source_lengths), tf.cast(cache_length, tf.int32))
    return cache_length, tf.where(source_lengths > 0, row_limits, 0)
