"""Label-smoothed cross-entropy over real tokens (paper §5.4), evaluation without smoothing, masked token accuracy.

All ignore padding (id 0 in y_true) and average over real tokens, so padding a batch never changes them; under
several replicas the loss is the mean over every real token of the global batch.
"""

import keras
import tensorflow as tf
from keras import ops

from tf_transformer.config import PAD_ID, START_ID


@keras.saving.register_keras_serializable(package="tf_transformer")
class MaskedCrossEntropy(keras.losses.Loss):
    """Cross-entropy against the smoothed target (1 - ε)·onehot(y) + ε·uniform(real ids), per real token.

    The smoothing mass goes to the ids a target can hold: [UNK], [END] and the vocabulary, never [PAD], [START]
    or the ids `round_to_multiple` added past the tokenizer's real vocabulary (`num_tokens`). With teachers'
    soft targets (`tf_transformer.distillation`; the model's `TokenLoss` passes them to `token_mean`), training
    minimises (1 - α)·that + α·(cross-entropy against the teachers' distribution).

    Args:
        label_smoothing: ε (0.1 in the paper).
        num_tokens: the target tokenizer's real vocabulary length (`Tokenizer.num_tokens`, reserved ids included);
            None = every id of the logits is real.
        pad_id: id of padding in y_true.
        distillation_weight: α, the teachers' share of the training loss when the batch brings soft targets.

    Call arguments:
        y_true: int [B, T] target ids; y_pred: float logits [B, T, V].

    Returns:
        float32 scalar: this replica's share of the mean loss per real token of the global batch, i.e. the sum of
        its tokens' losses over the real tokens of all replicas (Keras sums the replicas' gradients and logs, so
        their sum is the global token mean). With one replica: the mean loss per real token.
    """

    def __init__(self, label_smoothing=0.1, num_tokens=None, pad_id=PAD_ID, distillation_weight=0.0,
                 name="masked_cross_entropy", **kwargs):
        super().__init__(name=name, reduction="sum", **kwargs)
        self.label_smoothing, self.num_tokens, self.pad_id = label_smoothing, num_tokens, pad_id
        self.distillation_weight = distillation_weight

    def call(self, y_true, y_pred):
        return self.token_mean(y_true, y_pred, self.label_smoothing)

    def token_mean(self, y_true, y_pred, label_smoothing, teacher=None):
        """The loss with smoothing ε = `label_smoothing` (0: the negative log-likelihood); see the class.

        `teacher`: None, or the soft targets (ids int [B, T, k], probabilities float [B, T, k], each position's
        summing to 1) that take the `distillation_weight` share of the loss.
        """
        y_true = ops.cast(y_true, "int32")
        logits = ops.cast(y_pred, "float32")
        # With log p = z - logsumexp(z): -log p_y = lse - z_y and -Σ q_i log p_i = lse - Σ q_i z_i for any
        # distribution q (the uniform over the real ids, the teachers'), so the [B, T, V] log-probabilities are
        # never built.
        hard = 1.0 - (self.distillation_weight if teacher is not None else 0.0)
        true_logit = ops.squeeze(ops.take_along_axis(logits, y_true[..., None], axis=-1), -1)
        per_token = ops.logsumexp(logits, axis=-1) - hard * (1.0 - label_smoothing) * true_logit
        if label_smoothing:
            per_token -= hard * label_smoothing * ops.sum(
                logits * self._smoothing_weights(logits.shape[-1]), axis=-1)
        if teacher is not None:
            ids, probabilities = teacher
            teacher_logits = ops.take_along_axis(logits, ops.cast(ids, "int32"), axis=-1)
            per_token -= self.distillation_weight * ops.sum(ops.cast(probabilities, "float32") * teacher_logits, -1)
        mask = ops.cast(ops.not_equal(y_true, self.pad_id), "float32")
        return ops.sum(per_token * mask) / ops.maximum(_global_sum(ops.sum(mask)), 1.0)

    def _smoothing_weights(self, vocab_size):
        """float32 [V]: the uniform distribution over the ids the smoothing reaches."""
        ids = tf.range(vocab_size)
        real = (ids < (self.num_tokens or vocab_size)) & (ids != self.pad_id) & (ids != START_ID)
        weights = tf.cast(real, "float32")
        return weights / tf.reduce_sum(weights)

    def get_config(self):
        config = {key: value for key, value in super().get_config().items() if key != "reduction"}  # always "sum"
        return {**config, "label_smoothing": self.label_smoothing, "num_tokens": self.num_tokens,
                "pad_id": self.pad_id, "distillation_weight": self.distillation_weight}


def _global_sum(value):
    """`value` summed over the replicas of the current step (itself with one replica or outside a step)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce("sum", value)


class TokenLoss:
    """Mixin for a `keras.Model` compiled with `MaskedCrossEntropy`: `evaluate` and `fit`'s validation report the
    loss without label smoothing, a true per-token negative log-likelihood (perplexity = exp(val_loss)); training
    minimises the smoothed loss, mixed with the teachers' soft targets when the batch's labels bring them (the
    dict of `data.make_dataset(..., teachers=...)`; metrics then see its "target")."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        y, teacher = _split_labels(y)
        if not isinstance(self.loss, MaskedCrossEntropy):
            if teacher is not None:
                raise TypeError("soft targets need the model compiled with MaskedCrossEntropy")
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        if not training:
            return self.loss.token_mean(y, y_pred, 0.0)
        if teacher is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        return self.loss.token_mean(y, y_pred, self.loss.label_smoothing, teacher)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, _split_labels(y)[0], y_pred, sample_weight)


def _split_labels(y):
    """(target_out, None) for plain labels; (target_out, (teacher ids, probabilities)) for distillation's dict."""
    if isinstance(y, dict):
        return y["target"], (y["teacher_ids"], y["teacher_probabilities"])
    return y, None


@keras.saving.register_keras_serializable(package="tf_transformer")
class MaskedAccuracy(keras.metrics.Metric):
    """Fraction of real (non-pad) target tokens whose argmax logit is right, accumulated over batches.

    Call (`update_state`) arguments:
        y_true: int [B, T]; y_pred: float logits [B, T, V].
    """

    def __init__(self, pad_id=PAD_ID, name="accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pad_id = pad_id
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        mask = ops.cast(ops.not_equal(y_true, self.pad_id), "float32")
        hits = ops.cast(ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), y_true), "float32")
        self.correct.assign_add(ops.sum(hits * mask))
        self.total.assign_add(ops.sum(mask))

    def result(self):
        return self.correct / ops.maximum(self.total, 1.0)

    def reset_state(self):
        self.correct.assign(0.0)
        self.total.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}


@keras.saving.register_keras_serializable(package="tf_transformer")
class TokenCount(keras.metrics.Metric):
    """Real (non-pad) target tokens seen since the last reset: the progress bar turns it into tokens/s."""

    def __init__(self, pad_id=PAD_ID, name="tokens", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pad_id = pad_id
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.count.assign_add(ops.sum(ops.cast(ops.not_equal(ops.cast(y_true, "int32"), self.pad_id), "float32")))

    def result(self):
        return self.count

    def reset_state(self):
        self.count.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}
