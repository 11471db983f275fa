"""The loss and accuracy ignore padding and follow their formulas."""

import math

import numpy as np
import pytest

from tf_transformer.losses import MaskedAccuracy, MaskedCrossEntropy, TokenLoss


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


@pytest.mark.parametrize("num_tokens, smoothed_ids", [(None, [1, 3, 4, 5, 6]), (5, [1, 3, 4])])
def test_loss_is_label_smoothed_cross_entropy_with_the_mass_on_real_ids_only(rng, num_tokens, smoothed_ids):
    """ε goes uniformly to [UNK], [END] and the real vocabulary: never [PAD] (0), [START] (2) or the ids past the
    tokenizer's `num_tokens` that rounding the vocabulary added."""
    logits = rng.normal(size=(2, 4, 7)).astype("float32")
    labels = np.array([[4, 1, 3, 0], [4, 3, 0, 0]])
    log_probs = _log_softmax(logits.astype("float64"))
    real = labels != 0
    nll = -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]
    expected = ((0.9 * nll + 0.1 * -log_probs[..., smoothed_ids].mean(-1)) * real).sum() / real.sum()
    loss = MaskedCrossEntropy(0.1, num_tokens=num_tokens)
    assert math.isclose(float(loss(labels, logits)), expected, rel_tol=1e-5)
    assert math.isclose(float(MaskedCrossEntropy(0.0)(labels, logits)), (nll * real).sum() / real.sum(),
                        rel_tol=1e-5)
    assert MaskedCrossEntropy.from_config(loss.get_config()).num_tokens == num_tokens


def test_validation_loss_is_the_unsmoothed_negative_log_likelihood(rng):
    import keras

    class Model(TokenLoss, keras.Model):
        def __init__(self):
            super().__init__()
            self.embedding = keras.layers.Embedding(7, 7)

        def call(self, ids):
            return self.embedding(ids)

    labels = np.array([[4, 1, 3, 0], [4, 3, 0, 0]])
    model = Model()
    model.compile(optimizer="sgd", loss=MaskedCrossEntropy(0.1))
    model(labels)
    model.embedding.embeddings.assign(rng.normal(scale=3.0, size=(7, 7)).astype("float32"))  # far from uniform
    logits = model(labels)
    val_loss = model.evaluate(labels, labels, verbose=0)
    assert math.isclose(val_loss, float(MaskedCrossEntropy(0.0)(labels, logits)), rel_tol=1e-5)
    assert not math.isclose(val_loss, float(MaskedCrossEntropy(0.1)(labels, logits)), rel_tol=1e-3)
    # training still minimises the smoothed loss
    train_loss = model.compute_loss(labels, labels, logits, training=True)
    assert math.isclose(float(train_loss), float(MaskedCrossEntropy(0.1)(labels, logits)), rel_tol=1e-6)


def test_adding_padding_to_a_batch_does_not_change_loss_or_accuracy(rng):
    logits = rng.normal(size=(2, 4, 7)).astype("float32")
    labels = np.array([[5, 6, 3, 0], [4, 3, 0, 0]])
    padded_labels = np.concatenate([labels, np.zeros((2, 3), int)], axis=1)
    padded_logits = np.concatenate([logits, rng.normal(size=(2, 3, 7)).astype("float32")], axis=1)
    loss = MaskedCrossEntropy()
    assert math.isclose(float(loss(labels, logits)), float(loss(padded_labels, padded_logits)), rel_tol=1e-6)
    short, padded = MaskedAccuracy(), MaskedAccuracy()
    short.update_state(labels, logits)
    padded.update_state(padded_labels, padded_logits)
    assert float(short.result()) == float(padded.result())


def test_accuracy_counts_only_real_tokens():
    labels = np.array([[1, 2, 0]])
    logits = np.eye(3, dtype="float32")[[[1, 0, 0]]] * 5.0      # predicts 1, 0, 0: first right, second wrong
    metric = MaskedAccuracy()
    metric.update_state(labels, logits)
    assert float(metric.result()) == 0.5


def test_distillation_mixes_the_reference_and_the_teachers_distribution_over_real_tokens(rng):
    """(1 - α)·label-smoothed NLL of the reference + α·cross-entropy against the teachers' top-k distribution; the
    teachers' padding positions (id 0, probability 0) and the labels' padding add nothing, and metrics read the
    reference of the labels' dict."""
    import keras

    logits = rng.normal(size=(2, 4, 7)).astype("float32")
    labels = np.array([[4, 1, 3, 0], [4, 3, 0, 0]])
    teacher_ids = rng.integers(1, 7, size=(2, 4, 3))
    teacher_probabilities = rng.dirichlet(np.ones(3), size=(2, 4)).astype("float32")
    teacher_probabilities[labels == 0], teacher_ids[labels == 0] = 0.0, 0
    log_probs = _log_softmax(logits.astype("float64"))
    real = labels != 0
    smoothed = 0.9 * -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0] \
        + 0.1 * -log_probs[..., [1, 3, 4, 5, 6]].mean(-1)
    soft = -(teacher_probabilities * np.take_along_axis(log_probs, teacher_ids, -1)).sum(-1)
    expected = ((0.7 * smoothed + 0.3 * soft) * real).sum() / real.sum()
    loss = MaskedCrossEntropy(0.1, distillation_weight=0.3)
    assert math.isclose(float(loss.token_mean(labels, logits, 0.1, (teacher_ids, teacher_probabilities))), expected,
                        rel_tol=1e-5)
    assert MaskedCrossEntropy.from_config(loss.get_config()).distillation_weight == 0.3

    class Model(TokenLoss, keras.Model):
        def call(self, ids):
            return ids

    model = Model()
    model.compile(optimizer="sgd", loss=loss, metrics=[MaskedAccuracy()])
    batch = {"target": labels, "teacher_ids": teacher_ids, "teacher_probabilities": teacher_probabilities}
    assert math.isclose(float(model.compute_loss(None, batch, logits, training=True)), expected, rel_tol=1e-5)
    # validation ignores the teachers: the unsmoothed NLL of the reference
    assert math.isclose(float(model.compute_loss(None, batch, logits, training=False)),
                        float(MaskedCrossEntropy(0.0)(labels, logits)), rel_tol=1e-5)
    reference = MaskedAccuracy()
    reference.update_state(labels, logits)
    assert math.isclose(float(model.compute_metrics(None, batch, logits)["accuracy"]), float(reference.result()))
