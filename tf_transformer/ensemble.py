"""Several trained runs decoding as one model: the next-token distribution is the mean of the members'.

    tf-transformer evaluate --run-dir runs/g2p-avg5 --run-dir runs/g2p_s7-avg5 --split dev
    tf-transformer translate --run-dir runs/g2p-avg5 --run-dir runs/g2p_s7-avg5 hello world

    from tf_transformer.ensemble import load_ensemble
    run = load_ensemble(["runs/g2p-avg5", "runs/g2p_s7-avg5"])   # a run_dir.Run whose model is an Ensemble

An `Ensemble` has the decoding interface of a `Transformer` (`config`, `encode`, `initial_cache`, `decode_step`,
and a teacher-forced call), so greedy, beam and sampled decoding, with or without XLA, run on it unchanged: each
step feeds the token to every member through its own cache and returns log(mean of the members' probabilities),
already normalised, where a model returns logits. The members may differ in size and depth; they must read and
write the same ids (the same source and target vocabularies). Decoding costs the sum of the members' steps.
Training's distillation uses the same mean (`distillation.Teachers`); `tf-transformer export` with several
--run-dir writes it as one SavedModel (without the attention signature, which draws one model's weights).
"""

import dataclasses
import math

import tensorflow as tf

from tf_transformer.distribute import float32_copy
from tf_transformer.errors import ConfigError
from tf_transformer.model import DecodedStep
from tf_transformer.run_dir import Run, check_run_dir, load_run
from tf_transformer.text import load_tokenizer


class Ensemble(tf.Module):
    """Trained `Transformer`s whose mean next-token distribution decodes as one model's.

    Args:
        members: built `Transformer`s with the same source and target vocabularies; one trained under mixed
            precision decodes as its float32 copy (`distribute.float32_copy`), so an ensemble computes in float32.

    Attributes:
        config: the first member's `ModelConfig` with `max_length` the smallest of the members' (what the decoding
            functions read: vocabulary sizes and the length limit).

    Raises:
        ConfigError: no members, or members with other vocabulary sizes.
    """

    compute_dtype = "float32"  # what `float32_copy` reads: the members are float32 copies

    def __init__(self, members):
        super().__init__(name="ensemble")
        members = tuple(float32_copy(member) for member in members)
        if not members:
            raise ConfigError("an ensemble needs at least one model")
        sizes = {(m.config.source_vocab_size, m.config.target_vocab_size) for m in members}
        if len(sizes) > 1:
            raise ConfigError(f"ensemble members have different (source, target) vocabulary sizes {sorted(sizes)}; "
                              "ensemble only runs trained on the same corpus with the same tokenizer settings")
        self.members = members
        self.config = dataclasses.replace(members[0].config, max_length=min(m.config.max_length for m in members))
        self.built = True

    def build(self, input_shape=None):
        """Nothing to build: the members are (the decoding functions call this on an unbuilt model)."""

    def __call__(self, inputs, training=False):
        """Teacher-forced pass: inputs as `Transformer.call` -> float32 [B, T, V], log of the members' mean
        next-token probabilities (normalised log-probabilities, usable wherever logits are)."""
        return _log_mean_probabilities([member(inputs, training=training) for member in self.members])

    def encode(self, source_ids):
        """Every member's encoder output for source_ids int [B, S]: a tuple of float32 [B, S, d_model_i]."""
        return tuple(member.encode(source_ids) for member in self.members)

    def initial_cache(self, memories, max_length=None):
        """{"member_i": member i's `initial_cache`} for the memories of `encode` (max_length: config.max_length)."""
        length = self.config.max_length if max_length is None else max_length
        return {f"member_{i}": member.initial_cache(memory, length)
                for i, (member, memory) in enumerate(zip(self.members, memories))}

    def decode_step(self, target_ids, memory_mask, cache, step):
        """`Transformer.decode_step` of every member on its own cache; the `DecodedStep`'s logits are the log of
        the members' mean probabilities, float32 [B, V], and its cache has every member's position `step`."""
        steps = [member.decode_step(target_ids, memory_mask, cache[f"member_{i}"], step)
                 for i, member in enumerate(self.members)]
        return DecodedStep(_log_mean_probabilities([s.logits for s in steps]),
                           {f"member_{i}": s.cache for i, s in enumerate(steps)})


def _log_mean_probabilities(logits):
    """log(mean_i softmax(logits_i)) over a list of float32 [..., V], computed in log space (no underflow)."""
    if len(logits) == 1:
        return tf.nn.log_softmax(logits[0])
    log_probabilities = tf.stack([tf.nn.log_softmax(x) for x in logits])
    return tf.reduce_logsumexp(log_probabilities, axis=0) - math.log(len(logits))


def vocabulary_mismatch(reference, others):
    """Where the first of `others` reads or writes other ids than `reference`: (index into others, "source" or
    "target"), or None when all match (`Tokenizer.same_ids_as`).

    Args:
        reference, others: (source_tokenizer, target_tokenizer) pairs; a list of them for others.
    """
    for index, tokenizers in enumerate(others):
        for side, mine, theirs in zip(("source", "target"), reference, tokenizers):
            if not mine.same_ids_as(theirs):
                return index, side
    return None


def load_ensemble(run_dirs):
    """A `run_dir.Run` decoding with every run of `run_dirs` as one `Ensemble` (the first run's recipe, tokenizers
    and paths); `load_run` of the one run when there is one.

    Raises:
        ModelPathError: a directory that is not a trained run.
        ConfigError: runs with other vocabularies (`vocabulary_mismatch`).
    """
    run_dirs = [str(path) for path in run_dirs]
    tokenizers = [(load_tokenizer(paths.source_vocab), load_tokenizer(paths.target_vocab))
                  for paths in map(check_run_dir, run_dirs)]  # a mistake fails before any model loads
    mismatch = vocabulary_mismatch(tokenizers[0], tokenizers[1:])
    if mismatch:
        index, side = mismatch
        raise ConfigError(f"{run_dirs[index + 1]} has another {side} vocabulary than {run_dirs[0]}; ensemble runs "
                          f"trained on the same corpus with the same {side}_tokenizer settings")
    runs = [load_run(path) for path in run_dirs]
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    return Run(first.recipe, Ensemble(run.model for run in runs), first.source_tokenizer, first.target_tokenizer,
               first.paths)
