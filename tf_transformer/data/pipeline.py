"""tf.data from text pairs to `((source_ids, target_in), target_out)` batches for `model.fit`.

    dataset = make_dataset(corpus.splits["train"], source_tokenizer, target_tokenizer, config)
    for (source_ids, target_in), target_out in dataset: ...    # int32 [B, S], [B, T], [B, T], 0-padded

Steps:
1. tokenize: the tokenizers' graphs run over the texts in a tf.data pipeline (batches of 4096, in parallel); the
   ids are cached in memory as two RaggedTensors;
2. pairs over the maximum lengths are dropped (or truncated) and counted (`dataset.length_report`);
3. every epoch: a seeded shuffle of the pair indices; pools of `shuffle_buffer` indices are sorted into length
   buckets (by max(len(source), len(target) + 1), then by the two lengths) and cut into batches whose size keeps
   `tokens_per_batch` (source + target tokens, padding included) about constant; the batches are shuffled;
4. each batch gathers its ids, adds [START] / [END] and pads with 0; prefetch (tf.data's autotuning off: see
   `without_autotuning`).
Per-element tf.data functions pay a fixed cost per call, so steps 3-4 work on whole pools and batches.

Under `tf.distribute`, pass the `input_context` of `strategy.distribute_datasets_from_function`: each input
pipeline reads its shard (every n-th pair) and `config.tokens_per_batch` is the per-replica budget.
"""

import dataclasses
import logging

import numpy as np
import tensorflow as tf

from tf_transformer.config import END_ID, PAD_ID, START_ID, DataConfig
from tf_transformer.errors import DataError

logger = logging.getLogger("tf_transformer.data")

_TOKENIZE_BATCH = 4096
_BATCH_SHUFFLE_BUFFER = 4096


@dataclasses.dataclass
class LengthReport:
    """What the length limits did to one dataset (the trainer shows `str(report)`).

    Attributes:
        total: pairs given (this shard's).
        kept: pairs in the dataset.
        dropped: pairs left out: over a maximum length (unless truncating) or with an empty tokenized source.
        truncated: pairs cut to the maximum lengths (with `config.truncate`).
        max_source_length, max_target_length: the limits (the target's counts [START] or [END]).
    """

    total: int
    kept: int
    dropped: int
    truncated: int
    max_source_length: int
    max_target_length: int

    def __str__(self):
        return (f"{self.kept} of {self.total} pairs kept; {self.dropped} dropped, {self.truncated} truncated "
                f"(max_source_length={self.max_source_length}, max_target_length={self.max_target_length})")


def bucket_boundaries(max_length):
    """Upper lengths of the buckets: every length up to 10, then steps of about 10% up to `max_length`."""
    boundaries, length = [], 1
    while length < max_length:
        boundaries.append(length)
        length = max(length + 1, int(length * 1.1))
    return boundaries + [max_length]


def make_dataset(pairs, source_tokenizer, target_tokenizer, config: DataConfig, training=True, input_context=None,
                 bucketing=True, teachers=None):
    """Batches of token ids for `model.fit` from (source, target) text pairs.

    Args:
        pairs: list of (source, target) python str pairs (e.g. `corpus.splits["train"]`).
        source_tokenizer, target_tokenizer: `tf_transformer.text.Tokenizer`s.
        config: `DataConfig`: max_source_length, max_target_length (counting [START]/[END]), truncate,
            tokens_per_batch (per replica), shuffle_buffer (pairs sorted into buckets together), seed.
        training: shuffle (seeded; a new order each epoch). Nothing repeats: one pass is one epoch.
        input_context: `tf.distribute.InputContext`; the dataset then holds shard `input_pipeline_id` of
            `num_input_pipelines`.
        bucketing: batch by length buckets (default); False gives fixed-size batches of the same mean token
            count, padded to their longest pair (the baseline of bench/data.py).

    Returns:
        tf.data.Dataset of ((source_ids int32 [B, S], target_in int32 [B, T]), target_out int32 [B, T]), where
        target_in = [START] + target and target_out = target + [END], 0-padded. Its attribute `length_report`
        (a `LengthReport`) says how many pairs were dropped or truncated; the same line is logged.

    Raises:
        DataError: no pairs (empty split or shard), or every pair over the length limits.
    """
    pairs = list(pairs)
    if input_context is not None and input_context.num_input_pipelines > 1:
        pairs = pairs[input_context.input_pipeline_id::input_context.num_input_pipelines]
    if not pairs:
        raise DataError("no pairs to batch (the split or this worker's shard is empty); check the corpus")
    max_source = config.max_source_length
    max_target = config.max_target_length - 1  # room for [START] (target_in) or [END] (target_out)
    if max_source < 1 or max_target < 1:
        raise DataError(f"data.max_source_length={config.max_source_length} and data.max_target_length="
                        f"{config.max_target_length} must allow a token (target lengths count [START]/[END])")

    sources = tokenize_texts([source for source, _ in pairs], source_tokenizer)
    targets = tokenize_texts([target for _, target in pairs], target_tokenizer)
    source_lengths, target_lengths = sources.row_lengths().numpy(), targets.row_lengths().numpy()
    empty = source_lengths == 0
    too_long = ((source_lengths > max_source) | (target_lengths > max_target)) & ~empty
    truncate = config.truncate
    keep = ~empty if truncate else ~(empty | too_long)
    report = LengthReport(total=len(pairs), kept=int(keep.sum()), dropped=int((~keep).sum()),
                          truncated=int(too_long.sum()) if truncate else 0,
                          max_source_length=config.max_source_length, max_target_length=config.max_target_length)
    logger.info("data: %s", report)
    if report.kept == 0:
        raise DataError(f"every pair is over the length limits ({report}); raise data.max_source_length / "
                        "data.max_target_length or set data.truncate: true")
    kept = np.flatnonzero(keep)
    sources, targets = tf.gather(sources, kept), tf.gather(targets, kept)
    if truncate:
        sources, targets = sources[:, :max_source], targets[:, :max_target]
    lengths = np.maximum(np.minimum(source_lengths[kept], max_source), np.minimum(target_lengths[kept], max_target) + 1)

    if bucketing:
        boundaries = bucket_boundaries(max(max_source, max_target + 1))
        keys = np.searchsorted(boundaries, lengths)
        batch_sizes = [max(1, config.tokens_per_batch // (2 * length)) for length in boundaries]
        # Within a bucket, pairs of equal (source, target) lengths sit together, so a batch's other side pads little.
        span = max(max_source, max_target + 1) + 1
        order_keys = (keys * span + np.minimum(source_lengths[kept], max_source)) * span + np.minimum(
            target_lengths[kept], max_target)
    else:
        keys = order_keys = np.zeros(len(kept), np.int64)
        mean_tokens = float(np.minimum(source_lengths[kept], max_source).mean()
                            + np.minimum(target_lengths[kept], max_target).mean() + 1)
        batch_sizes = [max(1, int(config.tokens_per_batch // mean_tokens))]
    plan = _batch_plan(tf.constant(keys, tf.int32), tf.constant(order_keys, tf.int64),
                       tf.constant(batch_sizes, tf.int32))

    count = len(kept)
    indices = tf.data.Dataset.range(count)
    if training:
        indices = indices.shuffle(count, seed=config.seed, reshuffle_each_iteration=True)
    batches = indices.batch(max(1, config.shuffle_buffer)).map(plan).unbatch()
    if training:
        batches = batches.shuffle(_BATCH_SHUFFLE_BUFFER, seed=config.seed + 1, reshuffle_each_iteration=True)
    soft = teachers.soft_targets(sources, targets) if teachers is not None else None
    dataset = batches.map(_assemble(sources, targets, soft), num_parallel_calls=tf.data.AUTOTUNE)
    dataset = without_autotuning(dataset.prefetch(tf.data.AUTOTUNE))
    dataset.length_report = report
    return dataset


def tokenize_texts(texts, tokenizer):
    """RaggedTensor int32 [N, None]: `tokenizer.tokenize` run over `texts` (python str) in a parallel tf.data map."""
    batches = (tf.data.Dataset.from_tensor_slices(tf.constant(texts, tf.string))
               .batch(_TOKENIZE_BATCH)
               .map(tokenizer.tokenize, num_parallel_calls=tf.data.AUTOTUNE))
    return tf.concat(list(without_autotuning(batches)), axis=0)


def without_autotuning(dataset):
    """`dataset` with tf.data's autotuning model off; AUTOTUNE parallelism then means one call per core.

    With autotuning on, deleting an iterator waits for the tuning thread's next wake-up, and its period doubles from
    10 ms (to 60 s): Keras makes a new iterator every epoch, for training and for validation, so each epoch ended
    with a wait of up to its own length so far (bench/README.md). The tuning gives nothing back here: an epoch is
    built as fast without it as with it, the batches being made on whole pools.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def _batch_plan(keys, order_keys, batch_sizes):
    """A function: pool of pair indices [P] -> RaggedTensor [num_batches, None] of the indices of each batch.

    The pool is sorted by `order_keys` (bucket first, then the pair's lengths; stably, so the shuffled order
    survives among equal lengths); each bucket's run is cut into batches of `batch_sizes[key]` pairs.
    """

    @tf.autograph.experimental.do_not_convert
    def plan(pool):
        order = tf.argsort(tf.gather(order_keys, pool), stable=True)
        pool = tf.gather(pool, order)
        pool_keys = tf.gather(keys, pool)
        size = tf.shape(pool)[0]
        first = tf.concat([[True], pool_keys[1:] != pool_keys[:-1]], axis=0)
        group = tf.cumsum(tf.cast(first, tf.int32)) - 1
        group_start = tf.boolean_mask(tf.range(size), first)
        position = tf.range(size) - tf.gather(group_start, group)
        batch_in_group = position // tf.gather(batch_sizes, pool_keys)
        new_batch = first | tf.concat([[False], batch_in_group[1:] != batch_in_group[:-1]], axis=0)
        batch_id = tf.cumsum(tf.cast(new_batch, tf.int64)) - 1
        return tf.RaggedTensor.from_value_rowids(pool, batch_id, validate=False)

    return plan


def _assemble(sources, targets, soft=None):
    """A function: indices [B] -> ((source_ids [B, S], target_in [B, T]), target_out [B, T]), 0-padded; with the
    teachers' `soft` (ids, probabilities) ragged [N, None, k], the labels are the dict `make_dataset` describes."""

    @tf.autograph.experimental.do_not_convert
    def assemble(indices):
        source = tf.gather(sources, indices)
        target = tf.gather(targets, indices)
        batch = tf.shape(indices, out_type=tf.int64)[0]
        start = tf.RaggedTensor.from_tensor(tf.fill([batch, 1], tf.constant(START_ID, tf.int32)))
        end = tf.RaggedTensor.from_tensor(tf.fill([batch, 1], tf.constant(END_ID, tf.int32)))
        target_in = tf.concat([start, target], axis=1).to_tensor(PAD_ID)
        target_out = tf.concat([target, end], axis=1).to_tensor(PAD_ID)
        if soft is None:
            return (source.to_tensor(PAD_ID), target_in), target_out
        ids, probabilities = (tf.gather(values, indices).to_tensor(0) for values in soft)
        return (source.to_tensor(PAD_ID), target_in), {"target": target_out, "teacher_ids": ids,
                                                       "teacher_probabilities": probabilities}

    return assemble


def padding_statistics(dataset):
    """Count real and padding tokens over one pass of a `make_dataset` dataset (source and target_in).

    Returns:
        dict: batches, pairs, real_tokens, padded_tokens, padding_fraction (padded / all), mean and std of
        tokens per batch (padding included).
    """
    batches = pairs = real = total = 0
    per_batch = []
    for (source, target_in), _ in dataset.as_numpy_iterator():
        batch_total = source.size + target_in.size
        batch_real = int((source != PAD_ID).sum() + (target_in != PAD_ID).sum())
        batches, pairs, real, total = batches + 1, pairs + len(source), real + batch_real, total + batch_total
        per_batch.append(batch_total)
    return {"batches": batches, "pairs": pairs, "real_tokens": real, "padded_tokens": total - real,
            "padding_fraction": (total - real) / max(1, total), "tokens_per_batch_mean": float(np.mean(per_batch)),
            "tokens_per_batch_std": float(np.std(per_batch))}
