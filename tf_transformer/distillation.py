"""Token-level knowledge distillation: trained runs' next-token distributions as soft targets for a new run.

    training:
      teachers: [runs/g2p-avg5, runs/g2p_s7-avg5]   # trained runs with this recipe's vocabularies
      distillation_weight: 0.5                      # α
      distillation_top_k: 8

Before the first epoch, every teacher reads every training pair teacher-forced (no dropout, float32); their
probabilities are averaged (an ensemble teacher) and each target position keeps its `top_k` likeliest ids, their
probabilities renormalised to 1. The batches carry them next to the reference (`data.make_dataset`), and the loss
becomes (1 - α)·(label-smoothed cross-entropy against the reference) + α·(cross-entropy against the teachers)
(`losses.MaskedCrossEntropy`): word-level distillation (Hinton et al. 2015; Kim & Rush 2016), from an ensemble
for G2P as in Sun et al. 2019. The student pays one teacher-forced pass per teacher up front, not per step.
"""

import hashlib
import logging
import time

import keras
import numpy as np
import tensorflow as tf

from tf_transformer.config import PAD_ID, START_ID
from tf_transformer.ensemble import Ensemble, vocabulary_mismatch
from tf_transformer.errors import ConfigError, TransformerError
from tf_transformer.run_dir import check_run_dir, load_run

logger = logging.getLogger(__name__)

_TOKENS_PER_BATCH = 16384


class Teachers:
    """The teacher runs of a recipe, and the soft targets they give a set of training pairs.

    Args:
        run_dirs: trained run directories (`tf-transformer train`, or `average`'s output).
        source_tokenizer, target_tokenizer: the student's; every teacher must have the same vocabularies, so that
            the ids it reads and the ids it scores are the student's.
        top_k: ids kept per target position.
        verbose: show a progress bar over the teachers' pass.

    Raises:
        ConfigError: a directory that is not a trained run, or a teacher whose vocabulary differs, naming the field
            (training.teachers[i]) and the fix.
    """

    def __init__(self, run_dirs, source_tokenizer, target_tokenizer, top_k=8, verbose=False):
        self.top_k, self.verbose, self._cached = top_k, verbose, (None, None)
        runs = [_as_config_error(f"training.teachers[{index}]", load_run, run_dir)
                for index, run_dir in enumerate(run_dirs)]
        mismatch = vocabulary_mismatch((source_tokenizer, target_tokenizer),
                                       [(run.source_tokenizer, run.target_tokenizer) for run in runs])
        if mismatch:
            index, side = mismatch
            raise ConfigError(f"training.teachers[{index}]: {run_dirs[index]} has another {side} vocabulary than "
                              f"this run; a teacher must be trained on the same corpus with the same {side}_tokenizer "
                              "settings (or start this run from a copy of its vocab/ directory)")
        self.ensemble = Ensemble(run.model for run in runs)
        self.max_length = self.ensemble.config.max_length
        self._probabilities = tf.function(self._mean_top_k, reduce_retracing=True)

    def soft_targets(self, sources, targets):
        """The teachers' top-k next-token distributions for every pair, aligned with its target_out.

        Args:
            sources, targets: RaggedTensor int32 [N, None]: the pairs' ids without [START] / [END] (as
                `make_dataset` holds them, after its length limits).

        Returns:
            (ids, probabilities): RaggedTensors [N, None, k], int32 and float32; row i has len(targets[i]) + 1
            positions, those of target_out (the target, then [END]); each position's k probabilities sum to 1.
            A second call with the same pairs returns the first call's result.
        """
        key = _fingerprint(sources, targets)
        if self._cached[0] != key:
            self._cached = key, self._compute(sources, targets)
        return self._cached[1]

    def _compute(self, sources, targets):
        source_lengths, target_lengths = sources.row_lengths().numpy(), targets.row_lengths().numpy()
        longest = int(max(source_lengths.max(initial=0), target_lengths.max(initial=0) + 1))
        if longest > self.max_length:
            raise ConfigError(f"training.teachers: a training pair has {longest} positions, past a teacher's "
                              f"model.max_length={self.max_length}; lower data.max_source_length / "
                              "data.max_target_length to the teachers' limits")
        started = time.monotonic()
        order = np.lexsort((source_lengths, target_lengths))
        ids, probabilities = [], []
        progress = keras.utils.Progbar(len(order), unit_name="pair", interval=5) if self.verbose else None
        first = 0
        while first < len(order):
            width = int(max(source_lengths[order[first]], target_lengths[order[first]] + 1))
            last = min(len(order), first + max(1, _TOKENS_PER_BATCH // (2 * max(width, 1))))
            batch = order[first:last]
            source = tf.gather(sources, batch).to_tensor(PAD_ID)
            target = tf.gather(targets, batch)
            start = tf.fill([len(batch), 1], START_ID)
            target_in = tf.concat([start, target.to_tensor(PAD_ID)], axis=1)
            top_ids, top_probabilities = self._probabilities(source, target_in)
            lengths = target.row_lengths() + 1
            ids.append(tf.RaggedTensor.from_tensor(top_ids, lengths=lengths))
            probabilities.append(tf.RaggedTensor.from_tensor(top_probabilities, lengths=lengths))
            first = last
            if progress:
                progress.update(first)
        back = np.argsort(order)
        result = tf.gather(tf.concat(ids, axis=0), back), tf.gather(tf.concat(probabilities, axis=0), back)
        logger.info(f"distillation: {len(order)} pairs read by {len(self.ensemble.members)} teacher(s) in "
                    f"{time.monotonic() - started:.0f} s (top {self.top_k} ids per position)")
        return result

    def _mean_top_k(self, source_ids, target_in):
        """int32 [B, T, k], float32 [B, T, k]: the teachers' mean distribution's top-k ids and renormalised
        probabilities. The batch is sorted by length, so its padding (whose rows are dropped) is small."""
        mean = tf.exp(self.ensemble({"source_ids": source_ids, "target_ids": target_in}))
        top = tf.math.top_k(mean, k=min(self.top_k, mean.shape[-1]))
        return top.indices, top.values / tf.reduce_sum(top.values, axis=-1, keepdims=True)


def check_teachers(run_dirs):
    """The `ConfigError` `Teachers` would raise for a path that is not a run directory, without loading anything:
    the trainer calls it before it writes into its own run directory."""
    for index, run_dir in enumerate(run_dirs):
        _as_config_error(f"training.teachers[{index}]", check_run_dir, run_dir)


def _as_config_error(where, function, run_dir):
    """`function(run_dir)`, its package errors raised again as one-line `ConfigError`s prefixed by `where`."""
    try:
        return function(run_dir)
    except TransformerError as error:
        raise ConfigError(f"{where}: {error}") from None


def _fingerprint(*ragged):
    digest = hashlib.sha256()
    for tensor in ragged:
        digest.update(tensor.row_splits.numpy().tobytes())
        digest.update(tensor.flat_values.numpy().tobytes())
    return digest.hexdigest()
