"""Text as Unicode code points, computed with ops that TFLite runs as builtins (plus tensorflow-text's ByteSplit).

The SavedModel tokenizers prepare text with TensorFlow string ops (`unicode_transcode`, `regex_replace`, `lower`,
`unicode_split`) that have no TFLite kernels. The functions here compute the same results on integers, so the
TFLite translator (tf_transformer/text/portable.py) tokenizes exactly as the SavedModel does:

    points = decode_utf8(text)                 # tf.string [B] -> CodePoints (flat values int32 [N], rows [N])
    points = lowercase_boundaries(points)      # what `tf.strings.lower` does besides per-character mapping
    points = fold_whitespace(points)           # whitespace runs -> one U+0020, none at either end
    positions = row_positions(points.rows, points.batch_size)   # index of each value inside its row

Invalid UTF-8 is repaired as `tf.strings.unicode_transcode(errors="replace")` repairs it (ICU's "maximal
subpart" rule): every maximal prefix of a valid sequence, and every byte that starts none, becomes one U+FFFD.
"""

import collections

import tensorflow as tf
import tensorflow_text as tf_text

from tf_transformer.text.normalization import WHITESPACE_CHARACTERS

REPLACEMENT_CHARACTER = 0xFFFD
SPACE = 0x20

CodePoints = collections.namedtuple("CodePoints", ["values", "rows", "batch_size"])
CodePoints.__doc__ = """The code points of a batch of strings, row by row: values int32 [N], rows int32 [N]
(non-decreasing row index of each value), batch_size int32 scalar B."""


def decode_utf8(text):
    """tf.string [B] -> `CodePoints`, invalid sequences replaced by U+FFFD (see the module docstring)."""
    pieces = tf_text.ByteSplitter().split(text)
    x = tf.cast(pieces.flat_values, tf.int32)
    rows = tf.cast(pieces.value_rowids(), tf.int32)
    batch_size = tf.shape(text, out_type=tf.int32)[0]
    continuation = _in_range(x, 0x80, 0xBF)
    x1, x2, x3 = (_ahead(x, rows, k) for k in (1, 2, 3))
    length = tf.where(x < 0x80, 1, tf.where(_in_range(x, 0xC2, 0xDF), 2, tf.where(
        _in_range(x, 0xE0, 0xEF), 3, tf.where(_in_range(x, 0xF0, 0xF4), 4, 0))))
    # the second byte's range narrows after E0 (no overlong forms), ED (no surrogates), F0 and F4 (<= U+10FFFF)
    low = tf.where(tf.equal(x, 0xE0), 0xA0, tf.where(tf.equal(x, 0xF0), 0x90, 0x80))
    high = tf.where(tf.equal(x, 0xED), 0x9F, tf.where(tf.equal(x, 0xF4), 0x8F, 0xBF))
    ok1 = (length >= 2) & (x1 >= low) & (x1 <= high)
    ok2 = (length >= 3) & ok1 & _in_range(x2, 0x80, 0xBF)
    ok3 = (length >= 4) & ok2 & _in_range(x3, 0x80, 0xBF)
    valid = tf.equal(length, 1) | (tf.equal(length, 2) & ok1) | (tf.equal(length, 3) & ok2) | ok3
    # bytes one unit (a character or one U+FFFD) spans from a lead byte; a stray continuation byte spans itself
    span = tf.where(valid, length, 1 + tf.cast(ok1, tf.int32) + tf.cast(ok2, tf.int32))
    span = tf.where(continuation, 0, span)
    covered = ((_behind(span, rows, 1) >= 2) | (_behind(span, rows, 2) >= 3) | (_behind(span, rows, 3) >= 4))
    starts = tf.logical_not(continuation) | tf.logical_not(covered)
    c1, c2, c3 = x1 - 0x80, x2 - 0x80, x3 - 0x80
    value = tf.where(tf.equal(length, 1), x, tf.where(tf.equal(length, 2), (x - 0xC0) * 64 + c1, tf.where(
        tf.equal(length, 3), (x - 0xE0) * 4096 + c1 * 64 + c2, (x - 0xF0) * 262144 + c1 * 4096 + c2 * 64 + c3)))
    value = tf.where(valid & tf.logical_not(continuation), value, REPLACEMENT_CHARACTER)
    keep = tf.reshape(tf.where(starts), [-1])
    return CodePoints(tf.gather(value, keep), tf.gather(rows, keep), batch_size)


def is_whitespace(values):
    """bool, the shape of values int32 [N]: Unicode White_Space (what the SavedModel's regex folds)."""
    spaces = tf.constant([ord(c) for c in WHITESPACE_CHARACTERS], tf.int32)
    return tf.reduce_any(tf.equal(values[:, None], spaces[None]), axis=1)


def fold_whitespace(points):
    """`CodePoints` with each whitespace run replaced by one U+0020 and none at the start or end of a row
    (`normalization.fold_whitespace`)."""
    space = is_whitespace(points.values)
    solid = tf.cast(tf.logical_not(space), tf.int32)
    previous_solid = _behind(solid, points.rows, 1) > 0
    totals = tf.math.unsorted_segment_sum(solid, points.rows, points.batch_size)  # [B]
    ends = tf.gather(tf.cumsum(totals), points.rows)  # solid values up to the end of each value's row
    solid_after = ends - tf.cumsum(solid)
    keep = tf.logical_not(space) | (previous_solid & (solid_after > 0))
    values = tf.where(space, SPACE, points.values)
    kept = tf.reshape(tf.where(keep), [-1])
    return CodePoints(tf.gather(values, kept), tf.gather(points.rows, kept), points.batch_size)


def lowercase_boundaries(points):
    """`CodePoints` changed as `tf.strings.lower(encoding="utf-8")` changes them, besides mapping each character
    to its lower case (a table lookup, done by the caller): each row ends at its first NUL (ICU reads C strings),
    and U+0130 (İ) becomes two code points, "i" and U+0307 (the only lower case of more than one character)."""
    before_nul = tf.equal(row_cumsum(tf.cast(tf.equal(points.values, 0), tf.int32), points.rows,
                                     points.batch_size), 0)
    kept = tf.reshape(tf.where(before_nul), [-1])
    values, rows = tf.gather(points.values, kept), tf.gather(points.rows, kept)
    dotted = tf.cast(tf.equal(values, 0x130), tf.int32)
    slots = tf.range(tf.size(values)) + tf.cumsum(dotted, exclusive=True)  # where each value goes
    extra = tf.reshape(tf.where(dotted > 0), [-1])
    indices = tf.concat([slots, tf.gather(slots, extra) + 1], axis=0)[:, None]
    size = tf.size(values) + tf.reduce_sum(dotted)[None]
    values = tf.scatter_nd(indices, tf.concat([tf.where(dotted > 0, 0x69, values),
                                               tf.fill(tf.shape(extra), 0x307)], axis=0), size)
    rows = tf.scatter_nd(indices, tf.concat([rows, tf.gather(rows, extra)], axis=0), size)
    return CodePoints(values, rows, points.batch_size)


def row_cumsum(x, rows, batch_size):
    """Inclusive cumulative sum of x int32 [N] within each row (rows int32 [N], non-decreasing)."""
    totals = tf.math.unsorted_segment_sum(x, rows, batch_size)
    return tf.cumsum(x) - tf.gather(tf.cumsum(totals, exclusive=True), rows)


def row_positions(rows, batch_size):
    """int32 [N]: the index of each value inside its row, for rows int32 [N] (non-decreasing) of B rows."""
    counts = tf.math.unsorted_segment_sum(tf.ones_like(rows), rows, batch_size)
    starts = tf.cumsum(counts, exclusive=True)
    return tf.range(tf.size(rows)) - tf.gather(starts, rows)


def to_dense(values, rows, positions, batch_size, width):
    """int32 [B, W] holding values [N] at (rows, positions), 0 elsewhere; W = the longest row, at most `width`
    (values at positions >= width are dropped)."""
    keep = tf.reshape(tf.where(positions < width), [-1])
    rows, positions, values = (tf.gather(t, keep) for t in (rows, positions, values))
    dense = tf.scatter_nd(tf.stack([rows, positions], axis=1), values, tf.stack([batch_size, width]))
    longest = tf.reduce_max(tf.concat([positions + 1, [0]], axis=0))
    return dense[:, :longest]


def lookup(values, keys, found, missing):
    """int32 [N]: found[i] where values[n] == keys[i], else `missing`, for values [N] and a table of K distinct
    int32 keys with their found values [K] (one [N, K] comparison: the tables here hold hundreds of keys)."""
    match = tf.equal(values[:, None], keys[None])
    hit = tf.reduce_any(match, axis=1)
    return tf.where(hit, tf.gather(found, tf.argmax(tf.cast(match, tf.int32), axis=1, output_type=tf.int32)),
                    missing)


def _in_range(x, low, high):
    return (x >= low) & (x <= high)


def _ahead(x, rows, k):
    """x[n + k] where that value is in the same row as x[n], else -1."""
    size = tf.size(x)
    shifted = tf.slice(tf.concat([x, tf.fill([k], -1)], 0), [k], [size])
    same = tf.equal(tf.slice(tf.concat([rows, tf.fill([k], -1)], 0), [k], [size]), rows)
    return tf.where(same, shifted, -1)


def _behind(x, rows, k):
    """x[n - k] where that value is in the same row as x[n], else 0."""
    size = tf.size(x)
    shifted = tf.slice(tf.concat([tf.zeros([k], x.dtype), x], 0), [0], [size])
    same = tf.equal(tf.slice(tf.concat([tf.fill([k], -1), rows], 0), [0], [size]), rows)
    return tf.where(same, shifted, tf.zeros_like(x))
