"""Beam search with the GNMT length penalty ((5 + L) / 6)^α, n-best lists and per-source stopping."""

import numpy as np
import tensorflow as tf

from tf_transformer.config import PAD_ID
from tf_transformer.decoding.choosable import FORBIDDEN_IDS, NEGATIVE, check_num_tokens
from tf_transformer.decoding.limits import DEFAULT_MAX_EXTRA_LENGTH
from tf_transformer.decoding.loop import Hypotheses, Strategy, search
from tf_transformer.errors import ConfigError


def length_penalty(lengths, alpha):
    """((5 + L) / 6)^α for lengths L (any shape, counted with [END]); 1 when α = 0 (Wu et al., 2016)."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


_penalty = length_penalty  # beam_search_decode's argument `length_penalty` (α) hides the function


def beam_search_decode(model, source_ids, beam_size=4, length_penalty=0.6, max_length=None, n_best=1,
                       max_extra_length=DEFAULT_MAX_EXTRA_LENGTH, use_cache=True, stop_at_end=True, trim=True,
                       num_tokens=None):
    """Keep the `beam_size` best hypotheses per source; return the `n_best` best finished ones.

    Hypotheses are ranked by score = (sum of token log-probabilities) / ((5 + L) / 6)^α with L the number of
    tokens including [END]. A finished hypothesis stays in the beam with its score frozen and competes with the
    live ones; a source is done when all of its beams have finished (at [END] or at its length limit), after which
    its beams never change, so its result does not depend on the rest of the batch. All in the one search loop
    (`loop.search`) with static shapes: the cache holds B * beam_size rows (beam k of source b at row
    b * beam_size + k) and its self-attention part is gathered by parent beam every step.

    Args:
        model, source_ids, max_length, max_extra_length, use_cache, stop_at_end, trim, num_tokens: as
            `greedy_decode`.
        beam_size: hypotheses kept per source (K); 1 gives greedy decoding's tokens.
        length_penalty: α; 0 ranks by the plain sum of log-probabilities.
        n_best: how many hypotheses to return per source, 1 <= n_best <= beam_size.

    Returns:
        (target_ids int32 [B, n_best, T]: best first, without [START], up to and including [END], then 0s;
         scores float32 [B, n_best]: sorted descending, length-penalised as above).
        A source of only padding gives all-0 rows; its first score is 0 and the rest are about -1e9 (no
        hypothesis).
    """
    beam_size, n_best = int(beam_size), int(n_best)
    choosable = check_num_tokens(num_tokens, model.config.target_vocab_size) - len(FORBIDDEN_IDS)
    if not 1 <= beam_size <= choosable:
        raise ConfigError(f"beam_size must be in 1..{choosable} (the choosable target tokens), got {beam_size}")
    if not 1 <= n_best <= beam_size:
        raise ConfigError(f"n_best must be in 1..beam_size={beam_size}, got {n_best}")
    return search(model, source_ids, BeamStrategy(beam_size, length_penalty, n_best), max_length, max_extra_length,
                  use_cache, stop_at_end, trim, num_tokens)


class BeamStrategy(Strategy):
    """The K best of the K * V extensions of a source's K hypotheses, ranked by length-penalised score.

    Args:
        beam_size: K; length_penalty: α; n_best: the hypotheses `results` returns per source.
    """

    def __init__(self, beam_size, length_penalty, n_best):
        self.beam_size, self.alpha, self.n_best = beam_size, length_penalty, n_best

    def start(self, row_limits):
        """Hypotheses [B, K]; only beam 0 is live at first: the K copies of [START] would otherwise propose the
        same tokens K times."""
        batch_size, beam_size = tf.shape(row_limits)[0], self.beam_size
        limits = tf.tile(row_limits[:, None], [1, beam_size])
        log_probs = tf.tile(tf.constant([[0.0] + [NEGATIVE] * (beam_size - 1)]), [batch_size, 1])
        return limits, Hypotheses(log_probs, tf.zeros([batch_size, beam_size], tf.int32), limits <= 0)

    def choose(self, step, next_token, hypotheses):
        """The K best extensions of each source: parents, tokens and log-probabilities int32/float32 [B, K]."""
        beam_size, vocab_size = self.beam_size, next_token.log_probs.shape[-1]  # V: static, the model's
        allowed = tf.reshape(next_token.choosable(next_token.log_probs), [-1, beam_size, vocab_size])
        live = (hypotheses.log_probs[..., None] + allowed) / _penalty(step + 1, self.alpha)
        # A finished beam proposes one candidate: itself, extended by padding, with its score unchanged.
        frozen = tf.where(tf.constant((np.arange(vocab_size) == PAD_ID)[None, None]),
                          (hypotheses.log_probs / _penalty(hypotheses.lengths, self.alpha))[..., None],
                          float("-inf"))
        candidates = tf.where(hypotheses.finished[..., None], frozen, live)  # [B, K, V]
        _, best = tf.math.top_k(tf.reshape(candidates, [-1, beam_size * vocab_size]), beam_size)
        chosen = tf.gather(tf.reshape(next_token.log_probs, [-1, beam_size * vocab_size]), best, batch_dims=1)
        return best // vocab_size, best % vocab_size, chosen

    def results(self, target_ids, hypotheses):
        """The n_best hypotheses of each source by score: target_ids [B, n_best, L], scores [B, n_best]."""
        scores, order = tf.math.top_k(hypotheses.log_probs / _penalty(hypotheses.lengths, self.alpha), self.n_best)
        batch_size = tf.shape(scores)[0]
        return tf.gather(tf.reshape(target_ids, [batch_size, self.beam_size, -1]), order, batch_dims=1), scores
