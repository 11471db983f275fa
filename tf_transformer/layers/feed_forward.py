"""Position-wise feed-forward block of the Transformer (paper §3.3)."""

import keras

from tf_transformer.layers.dropout import Dropout
from tf_transformer.layers.projection import Projection


@keras.saving.register_keras_serializable(package="tf_transformer")
class FeedForward(keras.layers.Layer):
    """Two dense layers with an activation between: max(0, xW1 + b1)W2 + b2.

    Args:
        d_model: width of the input and output.
        d_ff: width of the hidden layer (2048 in the paper's base model).
        activation: "relu" (paper) or "gelu".
        dropout: dropout rate on the hidden activations.

    Call arguments:
        x: float tensor [B, T, d_model].
        training: whether dropout is active.

    Returns:
        float tensor [B, T, d_model].
    """

    def __init__(self, d_model, d_ff, activation="relu", dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.d_model, self.d_ff, self.activation, self.dropout = d_model, d_ff, activation, dropout
        self.hidden = Projection(d_ff, activation, name="hidden")
        self.output_projection = Projection(d_model, name="output")
        self.drop = Dropout(dropout)

    def build(self, input_shape):
        self.hidden.build(input_shape)
        self.output_projection.build((*input_shape[:-1], self.d_ff))

    def call(self, x, training=False):
        return self.output_projection(self.drop(self.hidden(x), training=training))

    def get_config(self):
        return {**super().get_config(), "d_model": self.d_model, "d_ff": self.d_ff,
                "activation": self.activation, "dropout": self.dropout}
