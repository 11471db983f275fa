"""The options of an encoder or decoder layer, defined once: `LayerOptions` and the config mixin that saves them.

    options = LayerOptions.of(model_config)      # the per-layer fields of a ModelConfig
    encoder = Encoder(num_layers=6, options=options)
    Encoder.from_config(encoder.get_config())    # the options travel as flat keys: d_model, num_heads, ...
"""

import dataclasses

from tf_transformer.layers.attention import MultiHeadAttention
from tf_transformer.layers.feed_forward import FeedForward
from tf_transformer.layers.normalization import LayerNormalization


@dataclasses.dataclass(frozen=True)
class LayerOptions:
    """Widths and regularisation shared by every `EncoderLayer` and `DecoderLayer` of a model, and the sublayers
    they configure (`attention`, `feed_forward`, `norm`).

    Attributes:
        d_model, num_heads, d_ff: widths (see `ModelConfig`).
        dropout: residual dropout; attention_dropout: on attention weights; ffn_dropout: on the feed-forward
            hidden activations.
        activation: feed-forward activation; norm_position: "post" or "pre"; layer_norm_epsilon: LayerNorm ε.
    """

    d_model: int
    num_heads: int
    d_ff: int
    dropout: float = 0.1
    attention_dropout: float = 0.0
    ffn_dropout: float = 0.0
    activation: str = "relu"
    norm_position: str = "post"
    layer_norm_epsilon: float = 1e-6

    @classmethod
    def of(cls, config):
        """The layer options of a `ModelConfig`: its fields of the same names."""
        return cls(**{name: getattr(config, name) for name in cls.names()})

    @classmethod
    def names(cls):
        """The option names, in order: the keys they take in a layer's config."""
        return [field.name for field in dataclasses.fields(cls)]

    def to_dict(self):
        return dataclasses.asdict(self)

    def attention(self, name, self_attention=True):
        """A `MultiHeadAttention` of d_model, num_heads and attention_dropout."""
        return MultiHeadAttention(self.d_model, self.num_heads, self.attention_dropout,
                                  self_attention=self_attention, name=name)

    def feed_forward(self, name="feed_forward"):
        """A `FeedForward` of d_model, d_ff, activation and ffn_dropout."""
        return FeedForward(self.d_model, self.d_ff, self.activation, self.ffn_dropout, name=name)

    def norm(self, name):
        """A `LayerNormalization` of layer_norm_epsilon."""
        return LayerNormalization(self.layer_norm_epsilon, name=name)


class ConfiguredByOptions:
    """Mixin (list it before keras.layers.Layer) for a layer whose constructor takes `options`, a `LayerOptions`,
    and stores it as `self.options`: `get_config` writes the options as flat keys next to the layer's other
    arguments, `from_config` reads them back. The keys are those the layers' configs have always had, so layers
    saved before `LayerOptions` existed load unchanged.
    """

    def get_config(self):
        return {**super().get_config(), **self.options.to_dict()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        options = LayerOptions(**{name: config.pop(name) for name in LayerOptions.names() if name in config})
        return cls(options=options, **config)
