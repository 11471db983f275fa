"""Sampling: draw each token from the model's distribution, sharpened by temperature and cut by top-k/top-p."""

import tensorflow as tf

from tf_transformer.decoding.choosable import NEGATIVE
from tf_transformer.decoding.limits import DEFAULT_MAX_EXTRA_LENGTH
from tf_transformer.decoding.loop import Strategy, search
from tf_transformer.errors import ConfigError


def sample_decode(model, source_ids, temperature=1.0, top_k=0, top_p=1.0, seed=None, max_length=None,
                  max_extra_length=DEFAULT_MAX_EXTRA_LENGTH, use_cache=True, stop_at_end=True, trim=True,
                  num_tokens=None):
    """Draw one output per source: token ~ softmax(filtered logits / temperature) at every step.

    The draw is Gumbel-max (argmax of logits + Gumbel noise from uniform random numbers): plain TensorFlow ops
    that TF Serving and TFLite run. With a `seed` the noise is stateless (`tf.random.stateless_uniform` keyed by
    (seed, step)), so the same inputs give the same outputs on every call; note that the noise of row b depends
    on the batch it is in. Without a seed every call draws afresh.

    Args:
        model, source_ids, max_length, max_extra_length, use_cache, stop_at_end, trim, num_tokens: as
            `greedy_decode`.
        temperature: > 0; below 1 sharpens, above 1 flattens the distribution.
        top_k: keep only the k most probable tokens (0 = all).
        top_p: keep the smallest set of most probable tokens whose probability reaches top_p (1.0 = all).
        seed: int for reproducible draws, None for fresh ones.

    Returns:
        (target_ids int32 [B, T], scores float32 [B]) as `greedy_decode`; scores are the model's own
        log-probabilities of the drawn tokens (temperature 1, unfiltered), comparable across methods.
    """
    if not temperature > 0:
        raise ConfigError(f"sampling temperature must be > 0, got {temperature!r} (use greedy decoding for 0)")
    if int(top_k) < 0:
        raise ConfigError(f"sampling top_k must be >= 0 (0 = off), got {top_k!r}")
    if not 0.0 < top_p <= 1.0:
        raise ConfigError(f"sampling top_p must be in (0, 1] (1 = off), got {top_p!r}")
    return search(model, source_ids, SamplingStrategy(temperature, top_k, top_p, seed), max_length,
                  max_extra_length, use_cache, stop_at_end, trim, num_tokens)


class SamplingStrategy(Strategy):
    """One hypothesis per source, extended by a token drawn from its filtered, temperature-scaled distribution.

    Args:
        temperature, top_k, top_p, seed: as `sample_decode`.
    """

    def __init__(self, temperature, top_k, top_p, seed):
        self.temperature, self.top_k, self.top_p, self.seed = temperature, top_k, top_p, seed

    def pick(self, logits, step):
        logits = filter_logits(logits / self.temperature, self.top_k, self.top_p)
        shape = tf.shape(logits)
        tiny = 1e-7
        if self.seed is None:
            uniform = tf.random.uniform(shape, tiny, 1.0)
        else:
            uniform = tf.random.stateless_uniform(shape, tf.stack([tf.constant(int(self.seed)), step]), tiny, 1.0)
        gumbel = -tf.math.log(-tf.math.log(uniform))
        return tf.argmax(logits + gumbel, axis=-1, output_type=tf.int32)


def filter_logits(logits, top_k=0, top_p=1.0):
    """logits float32 [N, V] with every token outside the top-k and the top-p nucleus set to NEGATIVE.

    The most probable token is always kept. Ties at the cut-off logit are kept too.
    """
    if top_k:
        k = tf.minimum(int(top_k), tf.shape(logits)[-1])
        kth = tf.math.top_k(logits, k).values[:, -1:]
        logits = tf.where(logits < kth, tf.cast(NEGATIVE, logits.dtype), logits)
    if top_p < 1.0:
        ordered = tf.sort(logits, axis=-1, direction="DESCENDING")
        probabilities = tf.nn.softmax(ordered)
        before = tf.cumsum(probabilities, axis=-1, exclusive=True)  # mass of the tokens more probable than this
        kept = tf.cast(before < top_p, tf.int32)
        count = tf.maximum(tf.reduce_sum(kept, axis=-1, keepdims=True), 1)
        threshold = tf.gather(ordered, count - 1, batch_dims=1)  # [N, 1]: smallest kept logit
        logits = tf.where(logits < threshold, tf.cast(NEGATIVE, logits.dtype), logits)
    return logits
