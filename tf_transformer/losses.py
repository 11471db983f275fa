"""Label-smoothed cross-entropy over real tokens (paper §5.4) and masked token accuracy.

Both ignore padding (id 0 in y_true) and average over real tokens, so padding a batch never changes them.
"""

import keras
import tensorflow as tf
from keras import ops

from tf_transformer.config import PAD_ID


@keras.saving.register_keras_serializable(package="tf_transformer")
class MaskedCrossEntropy(keras.losses.Loss):
    """Cross-entropy against the smoothed target (1 - ε)·onehot(y) + ε/V, summed over real tokens / their count.

    Args:
        label_smoothing: ε (0.1 in the paper).
        pad_id: id of padding in y_true.

    Call arguments:
        y_true: int [B, T] target ids; y_pred: float logits [B, T, V].

    Returns:
        float32 scalar: mean loss per real (non-pad) token.
    """

    def __init__(self, label_smoothing=0.1, pad_id=PAD_ID, name="masked_cross_entropy", **kwargs):
        super().__init__(name=name, reduction="sum", **kwargs)
        self.label_smoothing, self.pad_id = label_smoothing, pad_id

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        logits = ops.cast(y_pred, "float32")
        # With log p = z - logsumexp(z): -log p_y = lse - z_y and -mean(log p) = lse - mean(z), so the [B, T, V]
        # log-probabilities are never built (one pass over the logits fewer, forward and backward).
        true_logit = ops.squeeze(ops.take_along_axis(logits, y_true[..., None], axis=-1), -1)
        per_token = (ops.logsumexp(logits, axis=-1) - (1.0 - self.label_smoothing) * true_logit
                     - self.label_smoothing * ops.mean(logits, axis=-1))
        mask = ops.cast(ops.not_equal(y_true, self.pad_id), "float32")
        # Each replica returns its mean; Keras sums the replicas' gradients and logs, so scale by 1/replicas
        # (Keras does this itself only for its built-in reductions).
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return ops.sum(per_token * mask) / ops.maximum(ops.sum(mask), 1.0) / replicas

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "pad_id": self.pad_id}


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
