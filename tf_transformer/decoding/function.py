"""One traced entry point for decoding: a `tf.function` over int32 [None, None] that never retraces.

`make_decode_fn` is what the exporter and the CLI call: it fixes the method and its options, traces once for any
batch size and source length, and pads the source width up to one of a few `LENGTH_BUCKETS` inside the graph, so
the shapes inside (cache, buffers) come from a small fixed set. Padding never changes a row's output: each row
decodes to its own real length + 50.

With `jit_compile=True` XLA compiles the whole search once per (batch bucket, length bucket): the batch is padded
with empty rows up to a power of two (`BATCH_BUCKETS`), so a file of any size costs a handful of compilations.
"""

import inspect

import numpy as np
import tensorflow as tf

from tf_transformer.config import PAD_ID
from tf_transformer.decoding.beam import beam_search_decode
from tf_transformer.decoding.greedy import greedy_decode
from tf_transformer.decoding.limits import drop_padding_columns, warn_if_truncated
from tf_transformer.decoding.sampling import sample_decode
from tf_transformer.errors import ConfigError

METHODS = {"greedy": greedy_decode, "beam": beam_search_decode, "sample": sample_decode}
LENGTH_BUCKETS = (8, 16, 32, 64, 128, 256, 512, 1024)
BATCH_BUCKETS = tuple(2 ** i for i in range(16))  # with jit_compile: 1, 2, 4, ..., 32768 rows


def decoding_method(decoding):
    """(method, options) for a `DecodingConfig`: "beam" with its beam size, length penalty and length limit, or
    "greedy" when beam_size is 1. The one mapping the export, `translate` and `evaluate` share."""
    if decoding.beam_size > 1:
        return "beam", {"beam_size": decoding.beam_size, "length_penalty": decoding.length_penalty,
                        "max_extra_length": decoding.max_extra_length}
    return "greedy", {"max_extra_length": decoding.max_extra_length}


def make_decode_fn(model, method="greedy", length_buckets=LENGTH_BUCKETS, jit_compile=False, **options):
    """A `tf.function` source_ids int32 [B, S] -> (target_ids, scores), traced once for every B and S.

    Args:
        model: a `Transformer` (built here if it is not yet).
        method: "greedy", "beam" or "sample".
        length_buckets: source widths are padded up to the first of these that fits (then to max_length).
        jit_compile: compile the search with XLA (one compilation per batch size and length bucket). It decodes
            faster than the graph once compiled (bench/decode.py measures by how much): XLA fuses the hundreds of
            small ops of a step that the graph runs one by one. The TensorFlow Serving and TFLite exports use the
            graph (their runtimes do not compile XLA by default).
        **options: keyword arguments of the method (`greedy_decode`, `beam_search_decode`, `sample_decode`).

    Returns:
        tf.function with input signature [TensorSpec([None, None], int32, name="source_ids")] returning
        (target_ids int32 [B, T], scores float32 [B]) — for beam search with n_best > 1,
        ([B, n_best, T], [B, n_best]). `decode_fn.experimental_get_tracing_count()` counts its traces.

    Raises:
        ConfigError: unknown method or option.
    """
    if method not in METHODS:
        raise ConfigError(f"decoding method {method!r} is unknown; choose one of {', '.join(METHODS)}")
    function = METHODS[method]
    accepted = [name for name in inspect.signature(function).parameters if name not in ("model", "source_ids")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"{method} decoding has no option {unknown[0]!r}; valid options: {', '.join(accepted)}")
    if not model.built:
        model.build()
    squeeze = method == "beam" and options.get("n_best", 1) == 1
    buckets = sorted({min(int(b), model.config.max_length) for b in length_buckets} | {model.config.max_length})

    if jit_compile:  # XLA needs static shapes inside: decode to the full width, cut the padding outside
        compiled = tf.function(lambda source_ids: function(model, source_ids, **{**options, "trim": False}),
                               jit_compile=True, autograph=False)
    else:
        compiled = lambda source_ids: function(model, source_ids, **options)  # noqa: E731

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="source_ids")], autograph=False)
    def decode_fn(source_ids):
        padded = pad_to_bucket(source_ids, buckets)
        if jit_compile:
            padded = pad_to_bucket(padded, BATCH_BUCKETS, axis=0)
        target_ids, scores = compiled(padded)
        if jit_compile:
            batch_size = tf.shape(source_ids)[0]
            target_ids, scores = target_ids[:batch_size], scores[:batch_size]
            if options.get("trim", True):
                target_ids = drop_padding_columns(target_ids)
        if squeeze:
            target_ids, scores = target_ids[:, 0], scores[:, 0]
        return target_ids, scores

    return decode_fn


def pad_to_bucket(source_ids, buckets, axis=1):
    """source_ids int32 [B, S] padded with 0 along `axis` (1: the width, 0: the batch, with rows of only padding)
    to size min{b in buckets : b >= size} (unchanged if it is larger than every bucket)."""
    size = tf.shape(source_ids)[axis]
    buckets = tf.constant(buckets, tf.int32)
    target = tf.reduce_min(tf.where(buckets >= size, buckets, tf.maximum(size, buckets[-1])))
    padding = [[0, 0], [0, 0]]
    padding[axis][1] = tf.maximum(target - size, 0)
    return tf.pad(source_ids, padding, constant_values=PAD_ID)


class BatchDecoder:
    """Decode arrays from Python: warns about truncated inputs, then runs one `make_decode_fn` function.

    Args:
        model, method, jit_compile, **options: as `make_decode_fn`.

    Example:
        >>> decoder = BatchDecoder(model, "beam", beam_size=4)
        >>> target_ids, scores = decoder(np.array([[5, 9, 7, 0], [6, 4, 0, 0]]))   # numpy [2, T], [2]
    """

    def __init__(self, model, method="greedy", jit_compile=False, **options):
        self.model = model
        self.function = make_decode_fn(model, method, jit_compile=jit_compile, **options)

    def __call__(self, source_ids):
        """(target_ids, scores) as numpy arrays for int source_ids [B, S] (0-padded)."""
        source_ids = np.asarray(source_ids, dtype=np.int32)
        if source_ids.ndim != 2:
            raise ConfigError(f"source_ids must be a [batch, length] array of ids, got shape {source_ids.shape}")
        warn_if_truncated(self.model, source_ids)
        target_ids, scores = self.function(tf.constant(source_ids))
        return target_ids.numpy(), scores.numpy()
