"""Token embeddings scaled by √d_model with a tied softmax (paper §3.4), and positional encodings (§3.5)."""

import math

import keras
import numpy as np
from keras import ops


def sinusoid_table(length, d_model):
    """The paper's encoding as a float32 array [length, d_model].

    PE(pos, 2i) = sin(pos / 10000^(2i/d_model)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d_model)).
    """
    positions = np.arange(length, dtype=np.float64)[:, None]
    rates = 1.0 / np.power(10000.0, np.arange(0, d_model, 2, dtype=np.float64) / d_model)
    table = np.zeros((length, d_model), dtype=np.float64)
    table[:, 0::2] = np.sin(positions * rates)
    table[:, 1::2] = np.cos(positions * rates[: d_model // 2])
    return table.astype(np.float32)


def _sinusoids(positions, d_model):
    """`sinusoid_table` rows for float positions [T], computed in the graph (no table constant): [T, d_model]."""
    rates = ops.convert_to_tensor(1.0 / np.power(10000.0, np.arange(0, d_model, 2) / d_model), "float32")
    angles = positions[:, None] * rates[None, :]
    return ops.reshape(ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1), (-1, d_model))


@keras.saving.register_keras_serializable(package="tf_transformer")
class PositionalEncoding(keras.layers.Layer):
    """Adds position information to embeddings: fixed sinusoids (paper) or a learned table.

    Args:
        max_length: number of positions available.
        d_model: embedding width.
        kind: "sinusoidal" or "learned".

    Call arguments:
        x: float tensor [B, T, d_model].
        start: int scalar, the position of x[:, 0] (the step index in cached decoding; 0 otherwise).

    Returns:
        float tensor [B, T, d_model]: x + PE[start : start + T].
    """

    def __init__(self, max_length, d_model, kind="sinusoidal", **kwargs):
        super().__init__(**kwargs)
        self.max_length, self.d_model, self.kind = max_length, d_model, kind

    def build(self, input_shape):
        if self.kind == "learned":
            self.table = self.add_weight(name="table", shape=(self.max_length, self.d_model),
                                         initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, x, start=0):
        length = ops.shape(x)[1]
        if self.kind == "learned":
            positions = ops.slice(self.table, (start, 0), (length, self.d_model))
        else:
            positions = _sinusoids(ops.arange(length, dtype="float32") + ops.cast(start, "float32"), self.d_model)
        return x + ops.cast(positions, x.dtype)[None]

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length, "d_model": self.d_model, "kind": self.kind}


@keras.saving.register_keras_serializable(package="tf_transformer")
class TokenEmbedding(keras.layers.Layer):
    """Token ids to vectors scaled by √d_model; `logits` reuses the same matrix as the pre-softmax projection.

    Args:
        vocab_size: number of ids (reserved ids included).
        d_model: embedding width.

    Call arguments:
        ids: int tensor [B, T].

    Returns:
        float tensor [B, T, d_model] = E[ids] · √d_model.
    """

    def __init__(self, vocab_size, d_model, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.d_model = vocab_size, d_model

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(name="embeddings", shape=(self.vocab_size, self.d_model),
                                          initializer=keras.initializers.RandomNormal(stddev=self.d_model ** -0.5))

    def call(self, ids):
        vectors = ops.take(ops.cast(self.embeddings, self.compute_dtype), ops.cast(ids, "int32"), axis=0)
        return vectors * ops.cast(math.sqrt(self.d_model), self.compute_dtype)

    def logits(self, x):
        """Vocabulary logits x · Eᵀ for decoder states x [B, T, d_model] → [B, T, vocab_size]."""
        if not self.built:
            self.build()
        # One 2-D matmul: an einsum with broadcasting here made its gradient materialise [B, T, V, d_model].
        return ops.tensordot(x, ops.cast(self.embeddings, x.dtype), axes=[[x.ndim - 1], [1]])

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.d_model)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "d_model": self.d_model}
