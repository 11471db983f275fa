"""Where a decoding step gets its logits: the static KV cache (fast) or a full pass over the prefix (reference).

The search loop (`loop.py`) keeps the hypotheses in a buffer `sequence` int32 [N, L + 1] with [START] in
column 0 and the token chosen at step t in column t + 1, and asks a `Steps` object:

    logits [N, V], state = steps.step(sequence, step, state)
    state = steps.reorder(state, parent_rows)        # beam search: hypotheses were re-ranked

`cached_steps` runs the encoder once, projects the cross-attention keys/values once (`model.initial_cache`) and
feeds one token per step through `model.decode_step`; `recomputed_steps` calls the whole model on the growing
prefix every step (the TensorFlow tutorial's loop) and exists as the baseline for tests and `bench/decode.py`.
"""

import collections

import tensorflow as tf

from tf_transformer.config import PAD_ID
from tf_transformer.layers.attention import padding_mask

Steps = collections.namedtuple("Steps", ["state", "step", "reorder"])
Steps.__doc__ = """A decoding step provider: initial `state`, `step(sequence, step, state)`, `reorder(state, rows)`."""


def make_steps(model, source_ids, cache_length, use_cache=True, beam_size=1):
    """`cached_steps` or `recomputed_steps` for source_ids int32 [B, S]; hypotheses are [B * beam_size] rows."""
    return (cached_steps if use_cache else recomputed_steps)(model, source_ids, cache_length, beam_size)


def cached_steps(model, source_ids, cache_length, beam_size=1):
    """Steps over the static cache of `cache_length` positions; row b * beam_size + k is beam k of source b.

    The encoder and the cross-attention projections run on the B sources once; their results are repeated for
    the beams. Reordering gathers only the self-attention keys/values (the cross-attention ones are identical for
    every beam of a source, so re-ranking beams never changes them).
    """
    memory = model.encode(source_ids)
    memory_mask = padding_mask(source_ids, PAD_ID)
    cache = model.initial_cache(memory, cache_length)
    if beam_size > 1:
        memory_mask = tf.repeat(memory_mask, beam_size, axis=0)
        cache = tf.nest.map_structure(lambda x: tf.repeat(x, beam_size, axis=0), cache)

    def step(sequence, step, cache):
        decoded = model.decode_step(tf.slice(sequence, [0, step], [-1, 1]), memory_mask, cache, step)  # static [N, 1]
        return decoded.logits, decoded.cache

    return Steps(cache, step, _reorder_self_attention)


def recomputed_steps(model, source_ids, cache_length, beam_size=1):
    """Steps that run the full model (encoder included) on the prefix sequence[:, :step + 1]; no state."""
    del cache_length  # nothing is cached
    if beam_size > 1:
        source_ids = tf.repeat(source_ids, beam_size, axis=0)

    def step(sequence, step, state):
        logits = model({"source_ids": source_ids, "target_ids": sequence[:, :step + 1]})
        return logits[:, -1], state

    return Steps(tf.zeros([], tf.int32), step, lambda state, rows: state)


def _reorder_self_attention(cache, rows):
    """The cache with every tensor outside "cross" subtrees gathered by rows int32 [N] along the first axis."""
    if isinstance(cache, dict):
        return {name: value if name == "cross" else _reorder_self_attention(value, rows)
                for name, value in cache.items()}
    return tf.nest.map_structure(lambda x: tf.gather(x, rows), cache)
