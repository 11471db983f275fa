"""The one search loop: a `tf.while_loop` over a static KV cache that a `Strategy` steers (greedy, sampling, beam).

    target_ids, scores = search(model, source_ids, GreedyStrategy())        # what greedy_decode runs

The loop owns everything the searches share: the source as the decoder sees it and each row's length limit
(`limits`), the logits of a step (`steps`), the ids no search may choose (`choosable`), the hypothesis buffer,
the bookkeeping of every hypothesis (sum of log-probabilities, length, finished at [END] or at its limit), the
keep-going condition and the trimming of the output. A strategy only says which token extends each hypothesis
(and, in beam search, from which parent), how the hypotheses start and how they become the result:

    strategy.beam_size                                       K: hypotheses (cache rows) per source
    limits, hypotheses = strategy.start(row_limits)          int32 [B] -> per hypothesis (shape H: [B] or [B, K])
    parents, tokens, token_log_probs = strategy.choose(step, next_token, hypotheses)
    target_ids, scores = strategy.results(target_ids, hypotheses)

Row b * K + k of the buffer and the cache is hypothesis k of source b. With `parents` (int32 [B, K], or None when
every hypothesis extends itself) the loop reorders the hypotheses, the buffer and the cache before extending.
"""

import collections

import tensorflow as tf

from tf_transformer.config import END_ID, PAD_ID, START_ID
from tf_transformer.decoding.choosable import check_num_tokens, forbid, forbidden_ids
from tf_transformer.decoding.limits import (
    DEFAULT_MAX_EXTRA_LENGTH,
    decode_lengths,
    drop_padding_columns,
    prepare_source,
)
from tf_transformer.decoding.steps import make_steps

Hypotheses = collections.namedtuple("Hypotheses", ["log_probs", "lengths", "finished"])
Hypotheses.__doc__ = """The state of every hypothesis, each of shape H ([B], or [B, K] in beam search):
log_probs float32 (sum of its tokens' log-probabilities), lengths int32 (tokens so far, [END] included) and
finished bool (at [END] or at its limit: it then only appends padding and keeps its log_probs and length)."""


class NextToken(collections.namedtuple("NextToken", ["logits", "log_probs", "forbidden"])):
    """What the model says about the next token of every buffer row at one step.

    Attributes:
        logits: float32 [N, V], the model's.
        log_probs: float32 [N, V], log_softmax(logits): what the hypotheses' log_probs sum (scores never see the
            masking or a strategy's temperature).
        forbidden: bool [1, V], the ids no search may choose (`choosable.forbidden_ids`).
    """

    def choosable(self, values):
        """values float [N, V] (the logits or log-probabilities above) with the forbidden ids set to NEGATIVE."""
        return forbid(values, self.forbidden)


class Strategy:
    """How a search extends its hypotheses. This base keeps one hypothesis per source and extends it by the token
    that `pick` returns (greedy: the argmax, sampling: a draw); beam search overrides everything else."""

    beam_size = 1

    def start(self, row_limits):
        """(limits int32 H, the initial `Hypotheses`) for row_limits int32 [B] (the most tokens per source)."""
        return row_limits, Hypotheses(tf.zeros_like(row_limits, tf.float32), tf.zeros_like(row_limits),
                                      row_limits <= 0)

    def choose(self, step, next_token, hypotheses):
        """(parents int32 H or None, tokens int32 H, token_log_probs float32 H): the token that extends every
        hypothesis, its log-probability and (beam search) the hypothesis it extends. Finished hypotheses get
        padding whatever is chosen for them."""
        del hypotheses
        tokens = self.pick(next_token.choosable(next_token.logits), step)
        return None, tokens, tf.gather(next_token.log_probs, tokens, batch_dims=1)

    def pick(self, logits, step):
        """tokens int32 [B] for logits float32 [B, V] (forbidden ids at NEGATIVE) at int32 scalar step."""
        raise NotImplementedError

    def results(self, target_ids, hypotheses):
        """(target_ids, scores) from the buffer target_ids int32 [B * K, L] (without [START]) and the final
        hypotheses: here target_ids [B, L] and the sums of log-probabilities [B]."""
        return target_ids, hypotheses.log_probs


def search(model, source_ids, strategy, max_length=None, max_extra_length=DEFAULT_MAX_EXTRA_LENGTH,
           use_cache=True, stop_at_end=True, trim=True, num_tokens=None):
    """Decode source_ids int [B, S] with `strategy` in one `tf.while_loop` of static shapes.

    Args:
        model, source_ids, max_length, max_extra_length, use_cache, stop_at_end, trim, num_tokens: as
            `greedy_decode`.
        strategy: a `Strategy`.

    Returns:
        `strategy.results` of the buffer, without [START] and (with trim) without the columns that are 0 in every
        row.
    """
    num_tokens = check_num_tokens(num_tokens, model.config.target_vocab_size)
    source_ids = prepare_source(model, source_ids)
    cache_length, row_limits = decode_lengths(model, source_ids, max_length, max_extra_length)
    beam_size = strategy.beam_size
    steps = make_steps(model, source_ids, cache_length, use_cache, beam_size)
    batch_size = tf.shape(source_ids)[0]
    rows = batch_size * beam_size
    sequence = tf.concat([tf.fill([rows, 1], START_ID), tf.zeros([rows, cache_length], tf.int32)], axis=1)
    limits, hypotheses = strategy.start(row_limits)
    first_rows = tf.range(batch_size)[:, None] * beam_size  # [B, 1]: the row of hypothesis 0 of each source

    def keep_going(step, sequence, hypotheses, state):
        return tf.logical_and(step < cache_length, tf.logical_not(tf.reduce_all(hypotheses.finished)))

    def advance(step, sequence, hypotheses, state):
        logits, state = steps.step(sequence, step, state)
        forbidden = forbidden_ids(logits.shape[-1] if logits.shape[-1] is not None else tf.shape(logits)[-1],
                                  num_tokens)
        next_token = NextToken(logits, tf.nn.log_softmax(logits), forbidden)
        parents, tokens, token_log_probs = strategy.choose(step, next_token, hypotheses)
        if parents is not None:
            hypotheses = tf.nest.map_structure(lambda x: tf.gather(x, parents, batch_dims=1), hypotheses)
            parent_rows = tf.reshape(first_rows + parents, [rows])
            sequence, state = tf.gather(sequence, parent_rows), steps.reorder(state, parent_rows)
        tokens, hypotheses = _extended(hypotheses, tokens, token_log_probs, limits, stop_at_end)
        sequence = write_column(sequence, step + 1, tf.reshape(tokens, [rows]) if parents is not None else tokens)
        return step + 1, sequence, hypotheses, state

    _, sequence, hypotheses, _ = tf.while_loop(
        keep_going, lambda *loop: same_shapes(advance(*loop), loop),
        (tf.constant(0), sequence, hypotheses, steps.state))
    target_ids, scores = strategy.results(sequence[:, 1:], hypotheses)
    return (drop_padding_columns(target_ids) if trim else target_ids), scores


def _extended(hypotheses, tokens, token_log_probs, limits, stop_at_end):
    """(tokens, hypotheses) after appending tokens int32 H: padding to finished hypotheses (unchanged), the token
    and its log-probability to the others, which finish at their limit or (stop_at_end) at [END]."""
    live = tf.logical_not(hypotheses.finished)
    tokens = tf.where(hypotheses.finished, PAD_ID, tokens)
    log_probs = hypotheses.log_probs + tf.where(hypotheses.finished, 0.0, token_log_probs)
    lengths = hypotheses.lengths + tf.cast(live, tf.int32)
    finished = hypotheses.finished | (lengths >= limits)
    if stop_at_end:
        finished |= tf.equal(tokens, END_ID)
    return tokens, Hypotheses(log_probs, lengths, finished)


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
