"""Greedy decoding: the most probable token at every step."""

import tensorflow as tf

from tf_transformer.decoding.limits import DEFAULT_MAX_EXTRA_LENGTH
from tf_transformer.decoding.loop import Strategy, search


def greedy_decode(model, source_ids, max_length=None, max_extra_length=DEFAULT_MAX_EXTRA_LENGTH, use_cache=True,
                  stop_at_end=True, trim=True, num_tokens=None):
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
        num_tokens: the target tokenizer's real vocabulary length (`Tokenizer.num_tokens`); the ids from it up to
            the model's target_vocab_size (added by `round_to_multiple`) are never chosen. None = every id is real.
            [PAD] and [START] are never chosen either.

    Returns:
        (target_ids int32 [B, T]: without [START], up to and including [END], then 0s; T is the longest row;
         scores float32 [B]: the sum of the chosen tokens' log-probabilities, [END] included).
        A source of only padding gives an all-0 row and score 0.
    """
    return search(model, source_ids, GreedyStrategy(), max_length, max_extra_length, use_cache, stop_at_end, trim,
                  num_tokens)


class GreedyStrategy(Strategy):
    """One hypothesis per source, extended by its most probable choosable token."""

    def pick(self, logits, step):
        del step
        return tf.argmax(logits, axis=-1, output_type=tf.int32)
