"""Beam search with the GNMT length penalty ((5 + L) / 6)^α, n-best lists and per-source stopping."""

import tensorflow as tf

from tf_transformer.config import END_ID, PAD_ID, START_ID
from tf_transformer.decoding.greedy import FORBIDDEN_IDS, NEGATIVE, forbid_reserved, same_shapes, write_column
from tf_transformer.decoding.limits import (
    DEFAULT_MAX_EXTRA_LENGTH,
    decode_lengths,
    drop_padding_columns,
    prepare_source,
)
from tf_transformer.decoding.steps import make_steps
from tf_transformer.errors import ConfigError


def length_penalty(lengths, alpha):
    """((5 + L) / 6)^α for lengths L (any shape, counted with [END]); 1 when α = 0 (Wu et al., 2016)."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


_penalty = length_penalty  # beam_search_decode's argument `length_penalty` (α) hides the function


def beam_search_decode(model, source_ids, beam_size=4, length_penalty=0.6, max_length=None, n_best=1,
                       max_extra_length=DEFAULT_MAX_EXTRA_LENGTH, use_cache=True, stop_at_end=True, trim=True):
    """Keep the `beam_size` best hypotheses per source; return the `n_best` best finished ones.

    Hypotheses are ranked by score = (sum of token log-probabilities) / ((5 + L) / 6)^α with L the number of
    tokens including [END]. A finished hypothesis stays in the beam with its score frozen and competes with the
    live ones; a source is done when all of its beams have finished (at [END] or at its length limit), after which
    its beams never change, so its result does not depend on the rest of the batch. All in one `tf.while_loop`
    with static shapes: the cache holds B * beam_size rows (beam k of source b at row b * beam_size + k) and its
    self-attention part is gathered by parent beam every step.

    Args:
        model, source_ids, max_length, max_extra_length, use_cache, stop_at_end, trim: as `greedy_decode`.
        beam_size: hypotheses kept per source (K); 1 gives greedy decoding's tokens.
        length_penalty: α; 0 ranks by the plain sum of log-probabilities.
        n_best: how many hypotheses to return per source, 1 <= n_best <= beam_size.

    Returns:
        (target_ids int32 [B, n_best, T]: best first, without [START], up to and including [END], then 0s;
         scores float32 [B, n_best]: sorted descending, length-penalised as above).
        A source of only padding gives all-0 rows; its first score is 0 and the rest are about -1e9 (no
        hypothesis).
    """
    alpha = length_penalty
    beam_size, n_best = int(beam_size), int(n_best)
    vocab_size = model.config.target_vocab_size
    if not 1 <= beam_size <= vocab_size - len(FORBIDDEN_IDS):
        raise ConfigError(f"beam_size must be in 1..{vocab_size - len(FORBIDDEN_IDS)} (the choosable target "
                          f"tokens), got {beam_size}")
    if not 1 <= n_best <= beam_size:
        raise ConfigError(f"n_best must be in 1..beam_size={beam_size}, got {n_best}")

    source_ids = prepare_source(model, source_ids)
    cache_length, row_limits = decode_lengths(model, source_ids, max_length, max_extra_length)
    steps = make_steps(model, source_ids, cache_length, use_cache, beam_size)
    batch_size = tf.shape(source_ids)[0]
    rows = batch_size * beam_size
    sequence = tf.concat([tf.fill([rows, 1], START_ID), tf.zeros([rows, cache_length], tf.int32)], axis=1)
    # Only beam 0 is live at first: the K copies of [START] would otherwise propose the same tokens K times.
    log_probs = tf.tile(tf.constant([[0.0] + [NEGATIVE] * (beam_size - 1)]), [batch_size, 1])  # [B, K]
    lengths = tf.zeros([batch_size, beam_size], tf.int32)
    finished = tf.tile((row_limits <= 0)[:, None], [1, beam_size])
    limits = tf.tile(row_limits[:, None], [1, beam_size])
    first_rows = tf.range(batch_size)[:, None] * beam_size  # [B, 1]: row of beam 0 of each source
    vocab = tf.range(vocab_size)[None, None]  # [1, 1, V]

    def keep_going(step, sequence, log_probs, lengths, finished, state):
        return tf.logical_and(step < cache_length, tf.logical_not(tf.reduce_all(finished)))

    def advance(step, sequence, log_probs, lengths, finished, state):
        logits, state = steps.step(sequence, step, state)
        token_log_probs = tf.reshape(tf.nn.log_softmax(logits), [batch_size, beam_size, vocab_size])
        allowed = tf.reshape(forbid_reserved(tf.reshape(token_log_probs, [rows, vocab_size])),
                             [batch_size, beam_size, vocab_size])
        live = (log_probs[..., None] + allowed) / _penalty(step + 1, alpha)
        # A finished beam proposes one candidate: itself, extended by padding, with its score unchanged.
        frozen = tf.where(tf.equal(vocab, PAD_ID), (log_probs / _penalty(lengths, alpha))[..., None],
                          float("-inf"))
        candidates = tf.where(finished[..., None], frozen, live)  # [B, K, V]
        _, best = tf.math.top_k(tf.reshape(candidates, [batch_size, beam_size * vocab_size]), beam_size)
        parents, tokens = best // vocab_size, best % vocab_size  # [B, K]
        parent_finished = tf.gather(finished, parents, batch_dims=1)
        chosen = tf.gather(tf.reshape(token_log_probs, [batch_size, -1]), best, batch_dims=1)
        log_probs = tf.gather(log_probs, parents, batch_dims=1) + tf.where(parent_finished, 0.0, chosen)
        lengths = tf.gather(lengths, parents, batch_dims=1) + tf.cast(tf.logical_not(parent_finished), tf.int32)
        tokens = tf.where(parent_finished, PAD_ID, tokens)
        finished = parent_finished | (lengths >= limits)
        if stop_at_end:
            finished |= tf.equal(tokens, END_ID)
        parent_rows = tf.reshape(first_rows + parents, [rows])
        sequence = write_column(tf.gather(sequence, parent_rows), step + 1, tf.reshape(tokens, [rows]))
        return step + 1, sequence, log_probs, lengths, finished, steps.reorder(state, parent_rows)

    _, sequence, log_probs, lengths, _, _ = tf.while_loop(
        keep_going, lambda *loop: same_shapes(advance(*loop), loop),
        (tf.constant(0), sequence, log_probs, lengths, finished, steps.state))
    scores, order = tf.math.top_k(log_probs / _penalty(lengths, alpha), n_best)  # [B, n_best]
    sequence = tf.gather(tf.reshape(sequence, [batch_size, beam_size, -1]), order, batch_dims=1)
    return (drop_padding_columns(sequence[:, :, 1:]) if trim else sequence[:, :, 1:]), scores
