"""Greedy decoding, and the one-hypothesis-per-source loop that sampling shares with it."""

import numpy as np
import tensorflow as tf

from tf_transformer.config import END_ID, PAD_ID, START_ID
from tf_transformer.decoding.limits import (
    DEFAULT_MAX_EXTRA_LENGTH,
    decode_lengths,
    drop_padding_columns,
    prepare_source,
)
from tf_transformer.decoding.steps import make_steps

# Tokens a decoder may never choose: padding (it marks "no token") and [START] (only ever the first input).
FORBIDDEN_IDS = (PAD_ID, START_ID)
NEGATIVE = -1e9  # logit/score of forbidden choices: finite, so sums and divisions never make NaN


def greedy_decode(model, source_ids, max_length=None, max_extra_length=DEFAULT_MAX_EXTRA_LENGTH, use_cache=True,
                  stop_at_end=True, trim=True):
    """Pick the most probable token at every step until [END] or the row's length limit.

    Works eagerly and inside a `tf.function` with symbolic inputs (one `tf.while_loop`, static shapes). Build the
    model (call it once, or `model.build()`) before tracing.

    Args:
        model: a built `Transformer`.
        source_ids: int [B, S], 0-padded on the right. Longer than model.config.max_length: truncated (warning).
        max_length: output tokens per row; None = each row's source length + max_extra_length. Always capped by
            model.config.max_length.
        max_extra_length: see max_length.
        use_cache: False recomputes the whole prefix every step (the TF tutorial's loop; tests and benchmarks).
        stop_at_end: False keeps decoding after [END] to the full length (fair speed comparisons).
        trim: drop the output columns that are 0 in every row; False keeps the static width L (XLA needs it).

    Returns:
        (target_ids int32 [B, T]: without [START], up to and including [END], then 0s; T is the longest row;
         scores float32 [B]: the sum of the chosen tokens' log-probabilities, [END] included).
        A source of only padding gives an all-0 row and score 0.
    """
    return decode_one_hypothesis(model, source_ids, _most_probable, max_length, max_extra_length, use_cache,
                                 stop_at_end, trim)


def _most_probable(logits, step):
    del step
    return tf.argmax(logits, axis=-1, output_type=tf.int32)


def forbid_reserved(logits):
    """logits [N, V] with PAD and START set to NEGATIVE, so no search ever chooses them."""
    vocab_size = logits.shape[-1]
    if vocab_size is None:
        vocab_size = tf.shape(logits)[-1]
        forbidden = tf.reduce_any(tf.equal(tf.range(vocab_size)[:, None], tf.constant(FORBIDDEN_IDS)[None]), 1)
    else:  # a constant: no per-step ops beyond the `where`
        forbidden = tf.constant(np.isin(np.arange(vocab_size), FORBIDDEN_IDS))
    return tf.where(forbidden[None], tf.cast(NEGATIVE, logits.dtype), logits)


def write_column(sequence, column, tokens):
    """sequence int32 [N, C] with column `column` replaced by tokens int32 [N] (a static-shape update)."""
    at_column = tf.equal(tf.range(tf.shape(sequence)[1]), column)[None]
    return tf.where(at_column, tokens[:, None], sequence)


def same_shapes(new, old):
    """The loop variables `new` with the static shapes of `old` (a while-loop body must not lose shape facts)."""
    def restore(new, old):
        new.set_shape(old.shape)
        return new
    return tf.nest.map_structure(restore, new, old)


def decode_one_hypothesis(model, source_ids, choose, max_length=None, max_extra_length=DEFAULT_MAX_EXTRA_LENGTH,
                          use_cache=True, stop_at_end=True, trim=True):
    """The loop behind greedy and sampling: one hypothesis per source, each stopping at its own [END] or limit.

    Args:
        choose: callable (logits float32 [B, V] with reserved ids forbidden, step int32) -> tokens int32 [B].
        others: as `greedy_decode`.

    Returns:
        as `greedy_decode`; scores use the model's own log-probabilities (no temperature or filtering).
    """
    source_ids = prepare_source(model, source_ids)
    cache_length, row_limits = decode_lengths(model, source_ids, max_length, max_extra_length)
    steps = make_steps(model, source_ids, cache_length, use_cache)
    batch_size = tf.shape(source_ids)[0]
    sequence = tf.concat([tf.fill([batch_size, 1], START_ID),
                          tf.zeros([batch_size, cache_length], tf.int32)], axis=1)  # [B, L + 1]
    finished = row_limits <= 0
    lengths = tf.zeros([batch_size], tf.int32)
    scores = tf.zeros([batch_size], tf.float32)

    def keep_going(step, sequence, lengths, scores, finished, state):
        return tf.logical_and(step < cache_length, tf.logical_not(tf.reduce_all(finished)))

    def advance(step, sequence, lengths, scores, finished, state):
        logits, state = steps.step(sequence, step, state)
        log_probs = tf.nn.log_softmax(logits)
        tokens = tf.where(finished, PAD_ID, choose(forbid_reserved(logits), step))
        chosen = tf.gather(log_probs, tokens, batch_dims=1)
        scores += tf.where(finished, 0.0, chosen)
        lengths += tf.cast(tf.logical_not(finished), tf.int32)
        sequence = write_column(sequence, step + 1, tokens)
        finished = finished | (lengths >= row_limits)
        if stop_at_end:
            finished |= tf.equal(tokens, END_ID)
        return step + 1, sequence, lengths, scores, finished, state

    _, sequence, _, scores, _, _ = tf.while_loop(
        keep_going, lambda *loop: same_shapes(advance(*loop), loop),
        (tf.constant(0), sequence, lengths, scores, finished, steps.state))
    return (drop_padding_columns(sequence[:, 1:]) if trim else sequence[:, 1:]), scores
