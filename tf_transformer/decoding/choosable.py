"""Which ids a search may choose: never [PAD] or [START], and never an id past the tokenizer's real vocabulary.

The model's `target_vocab_size` is the tokenizer's `vocab_size`, rounded up to a multiple of `round_to_multiple`;
the ids from the tokenizer's `num_tokens` on have no token (they detokenize to [UNK]). Every search sets the
logits (or log-probabilities) of all of these to `NEGATIVE` before it ranks them:

    forbidden = forbidden_ids(vocab_size=12, num_tokens=10)      # bool [1, 12]: True at 0, 2, 10, 11
    logits = forbid(logits, forbidden)                           # [N, 12], those ids at -1e9
"""

import numpy as np
import tensorflow as tf

from tf_transformer.config import END_ID, PAD_ID, START_ID
from tf_transformer.errors import ConfigError

# Tokens a decoder may never choose: padding (it marks "no token") and [START] (only ever the first input).
FORBIDDEN_IDS = (PAD_ID, START_ID)
NEGATIVE = -1e9  # logit/score of forbidden choices: finite, so sums and divisions never make NaN


def check_num_tokens(num_tokens, vocab_size):
    """The number of real ids: `num_tokens` (the target tokenizer's), or `vocab_size` (every id) when None.

    Raises:
        ConfigError: num_tokens leaves out [END] or exceeds the model's vocabulary.
    """
    if num_tokens is None:
        return int(vocab_size)
    if not END_ID < int(num_tokens) <= vocab_size:
        raise ConfigError(f"num_tokens (the target tokenizer's real vocabulary) must be in {END_ID + 1}.."
                          f"{vocab_size} (the model's target_vocab_size), got {num_tokens}")
    return int(num_tokens)


def forbidden_ids(vocab_size, num_tokens=None):
    """bool [1, V]: True at the ids no search may choose (`FORBIDDEN_IDS` and every id >= num_tokens).

    With a python int `vocab_size` this is a constant (no per-step ops); with an int32 scalar tensor (logits of
    unknown width) it is computed.
    """
    if isinstance(vocab_size, int):
        ids = np.arange(vocab_size)
        return tf.constant((np.isin(ids, FORBIDDEN_IDS) | (ids >= (num_tokens or vocab_size)))[None])
    ids = tf.range(vocab_size)
    forbidden = tf.reduce_any(tf.equal(ids[:, None], tf.constant(FORBIDDEN_IDS)[None]), 1)
    if num_tokens is not None:
        forbidden |= ids >= num_tokens
    return forbidden[None]


def forbid(values, forbidden):
    """values float [N, V] (logits or log-probabilities) set to NEGATIVE where forbidden bool [1, V] is True."""
    return tf.where(forbidden, tf.cast(NEGATIVE, values.dtype), values)


def forbid_reserved(logits, num_tokens=None):
    """logits [N, V] with PAD, START (and every id >= num_tokens) set to NEGATIVE, so no search chooses them."""
    vocab_size = logits.shape[-1]
    return forbid(logits, forbidden_ids(tf.shape(logits)[-1] if vocab_size is None else vocab_size, num_tokens))
