"""Token-level distillation: the soft targets are each pair's own teacher distributions, a teacher must share the
student's vocabularies, and the teachers' weight is all that changes training."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from tf_transformer.config import START_ID
from tf_transformer.data import load_corpus
from tf_transformer.data.pipeline import tokenize_texts
from tf_transformer.distillation import Teachers
from tf_transformer.errors import ConfigError
from tf_transformer.run_dir import load_run


def _pairs(run, count=40):
    """`count` training pairs of the run, of mixed lengths (so sorting them by length reorders them), as ids."""
    pairs = load_corpus(run.recipe.data).splits["train"][:count]
    return (tokenize_texts([source for source, _ in pairs], run.source_tokenizer),
            tokenize_texts([target for _, target in pairs], run.target_tokenizer))


def _softmax_of_one_pair(model, source, target):
    """float64 [len(target) + 1, V]: the model's next-token distributions over one pair, read alone."""
    target_in = np.array([[START_ID, *target]], "int32")
    logits = model({"source_ids": np.array([source], "int32"), "target_ids": target_in})[0].numpy()
    return tf.nn.softmax(logits.astype("float64"), axis=-1).numpy()


def test_soft_targets_are_the_teachers_mean_distribution_for_each_pairs_own_positions(trained_run):
    run = load_run(trained_run["run_dir"])
    sources, targets = _pairs(run)
    vocab_size = run.target_tokenizer.vocab_size
    teachers = Teachers([trained_run["run_dir"]] * 2, run.source_tokenizer, run.target_tokenizer, top_k=vocab_size)
    second = teachers.ensemble.members[1]  # a different second teacher: its weights scaled
    second.set_weights([weight * 0.7 for weight in second.get_weights()])
    ids, probabilities = teachers.soft_targets(sources, targets)
    assert (ids.row_lengths().numpy() == targets.row_lengths().numpy() + 1).all()
    for index in (0, 7, 19, 39):
        source, target = sources[index].numpy(), targets[index].numpy()
        expected = (_softmax_of_one_pair(teachers.ensemble.members[0], source, target)
                    + _softmax_of_one_pair(second, source, target)) / 2
        dense = np.zeros_like(expected)
        np.put_along_axis(dense, ids[index].numpy(), probabilities[index].numpy(), axis=-1)
        np.testing.assert_allclose(dense, expected, atol=2e-5)


def test_top_k_keeps_the_likeliest_ids_renormalised(trained_run):
    run = load_run(trained_run["run_dir"])
    sources, targets = _pairs(run, 12)
    ids, probabilities = Teachers([trained_run["run_dir"]], run.source_tokenizer, run.target_tokenizer,
                                  top_k=3).soft_targets(sources, targets)
    full = _softmax_of_one_pair(run.model, sources[5].numpy(), targets[5].numpy())
    np.testing.assert_array_equal(np.sort(ids[5].numpy(), -1), np.sort(np.argsort(-full, -1)[:, :3], -1))
    kept = np.take_along_axis(full, ids[5].numpy(), -1)
    np.testing.assert_allclose(probabilities[5].numpy(), kept / kept.sum(-1, keepdims=True), atol=2e-5)


def test_a_teacher_that_is_not_a_run_or_has_another_vocabulary_is_a_one_line_config_error(trained_run, tmp_path):
    from tf_transformer.config import TokenizerConfig
    from tf_transformer.text import build_tokenizer

    run = load_run(trained_run["run_dir"])
    with pytest.raises(ConfigError, match=r"training\.teachers\[0\]: .*not a run directory"):
        Teachers([str(tmp_path / "missing")], run.source_tokenizer, run.target_tokenizer)
    other = build_tokenizer(TokenizerConfig(kind="char", vocab_size=None, lowercase=True), ["xyz", "uvw"])
    with pytest.raises(ConfigError, match=r"training\.teachers\[0\]: .* another source vocabulary") as error:
        Teachers([trained_run["run_dir"]], other, run.target_tokenizer)
    assert "\n" not in str(error.value)


def test_a_mistyped_teacher_stops_training_before_it_writes_anything(trained_run, tmp_path):
    from tf_transformer.trainer import train

    recipe = trained_run["recipe"]
    recipe = dataclasses.replace(recipe, training=dataclasses.replace(
        recipe.training, teachers=[trained_run["run_dir"], str(tmp_path / "runs" / "g2p-avg")]))
    with pytest.raises(ConfigError, match=r"^training\.teachers\[1\]: .*not a run directory \(no such directory\)"):
        train(recipe, str(tmp_path / "student"), verbose=False)
    assert not (tmp_path / "student").exists()


def _student(trained_run, tmp_path, name, **training):
    """Train a student on the teacher run's own corpus and recipe (so the vocabularies match) for a few steps;
    returns its final weights and the loaded run."""
    from tf_transformer.trainer import train

    recipe = trained_run["recipe"]
    recipe = dataclasses.replace(recipe, training=dataclasses.replace(recipe.training, steps_per_epoch=30,
                                                                      label_smoothing=0.0, **training),
                                 export=dataclasses.replace(recipe.export, directory=str(tmp_path / "exports")))
    train(recipe, str(tmp_path / name), verbose=False)
    student = load_run(str(tmp_path / name))
    return student.model.get_weights(), student


def test_the_teachers_weight_is_all_that_changes_training(trained_run, tmp_path):
    """α = 0 trains exactly as no teacher does (the soft targets ride along unused); α = 1 trains the student
    toward the teacher: closer to its distributions than the same steps on the references alone."""
    teacher = [trained_run["run_dir"]]
    plain, plain_run = _student(trained_run, tmp_path, "plain")
    unused, _ = _student(trained_run, tmp_path, "alpha0", teachers=teacher, distillation_weight=0.0)
    for a, b in zip(plain, unused):
        np.testing.assert_array_equal(a, b)
    _, distilled_run = _student(trained_run, tmp_path, "alpha1", teachers=teacher, distillation_weight=1.0)

    teacher_run = load_run(trained_run["run_dir"])
    sources, targets = _pairs(teacher_run, 60)

    def cross_entropy_to_teacher(student):
        total = 0.0
        for index in range(60):
            source, target = sources[index].numpy(), targets[index].numpy()
            wanted = _softmax_of_one_pair(teacher_run.model, source, target)
            total -= (wanted * np.log(_softmax_of_one_pair(student.model, source, target))).sum()
        return total

    assert cross_entropy_to_teacher(distilled_run) < cross_entropy_to_teacher(plain_run)
