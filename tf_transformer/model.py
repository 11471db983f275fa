"""The Transformer model (paper §3): embeddings, encoder and decoder stacks, and the (tied) softmax projection."""

from typing import NamedTuple

import keras
from keras import ops

from tf_transformer.config import PAD_ID, ModelConfig
from tf_transformer.distribute import MultiWorkerFitFix
from tf_transformer.layers.attention import causal_mask, padding_mask
from tf_transformer.layers.decoder import Decoder
from tf_transformer.layers.dropout import Dropout
from tf_transformer.layers.embedding import PositionalEncoding, TokenEmbedding
from tf_transformer.layers.encoder import Encoder
from tf_transformer.layers.options import LayerOptions
from tf_transformer.layers.packing import Packing
from tf_transformer.layers.projection import Projection
from tf_transformer.losses import TokenLoss


class Decoded(NamedTuple):
    """What `Transformer.decode` returns, both fields filled on every call (unpacks as (logits, attention_weights)).

    Attributes:
        logits: float32 [B, T, V] (V = target_vocab_size); logits[:, t] predict target token t + 1 (0 at padding
            positions when the target came with its `Packing`).
        attention_weights: every decoder layer's cross-attention weights, bottom layer first: a list of float32
            [B, h, T, S].
    """

    logits: object
    attention_weights: object


class DecodedStep(NamedTuple):
    """What `Transformer.decode_step` returns (unpacks as (logits, cache)).

    Attributes:
        logits: float32 [B, V], the next-token logits: they predict the token at position step + 1.
        cache: the cache it was given with position `step` written: the same structure and static shapes
            ({"layer_i": {"self": {"key", "value"} [B, h, L, d_k], "cross": {"key", "value"} [B, h, S, d_k]}}).
    """

    logits: object
    cache: object


@keras.saving.register_keras_serializable(package="tf_transformer")
class Transformer(TokenLoss, MultiWorkerFitFix, keras.Model):
    """Encoder–decoder Transformer returning next-token logits.

    `MultiWorkerFitFix` (tf_transformer/distribute.py) lets stock `fit`/`evaluate` run under
    MultiWorkerMirroredStrategy; it changes nothing under other strategies. `TokenLoss`
    (tf_transformer/losses.py) makes `evaluate` and `val_loss` the unsmoothed per-token NLL, and mixes teachers'
    soft targets into the training loss when the batches bring them (`tf_transformer.distillation`).

    Args:
        config: a `ModelConfig` (or its dict form).

    Call arguments:
        inputs: {"source_ids": int [B, S], "target_ids": int [B, T]} or the tuple (source_ids, target_ids), with
            id 0 as padding; target_ids start with [START] (teacher forcing).
        training: whether dropout is active.

    Returns:
        float32 logits [B, T, target_vocab_size]; logits[:, t] predict target token t + 1 (0 at padding positions
        when config.pack_tokens).

    Example:
        >>> model = Transformer(ModelConfig.preset("tiny", source_vocab_size=100, target_vocab_size=100))
        >>> model({"source_ids": np.ones((2, 7), "int32"), "target_ids": np.ones((2, 5), "int32")}).shape
        TensorShape([2, 5, 100])
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = config if isinstance(config, ModelConfig) else ModelConfig(**config)
        c = self.config
        self.source_embedding = TokenEmbedding(c.source_vocab_size, c.d_model, name="source_embedding")
        self.target_embedding = (self.source_embedding if c.share_embeddings else
                                 TokenEmbedding(c.target_vocab_size, c.d_model, name="target_embedding"))
        self.source_positions = PositionalEncoding(c.max_length, c.d_model, c.positional, name="source_positions")
        self.target_positions = PositionalEncoding(c.max_length, c.d_model, c.positional, name="target_positions")
        self.source_dropout = Dropout(c.dropout)
        self.target_dropout = Dropout(c.dropout)
        options = LayerOptions.of(c)
        self.encoder = Encoder(c.num_layers, options, name="encoder")
        self.decoder = Decoder(c.decoder_layers, options, name="decoder")
        self.output_projection = (None if c.tie_output else
                                  Projection(c.target_vocab_size, name="output_projection"))

    def build(self, input_shape=None):
        """Create every weight by running one position through the model (shapes are fixed by the config)."""
        if self.built:
            return
        ids = ops.ones((1, 1), "int32")
        self.call({"source_ids": ids, "target_ids": ids})
        self.built = True

    # ---- the three entry points: full pass, encoder, one decoding step --------------------------------------

    def call(self, inputs, training=False):
        source_ids, target_ids = _unpack(inputs)
        memory_mask = padding_mask(source_ids, PAD_ID)
        source, target = (Packing(source_ids), Packing(target_ids)) if self.config.pack_tokens else (None, None)
        memory = self.encode(source_ids, training=training, packing=source)
        return self.decode(target_ids, memory, memory_mask, training=training, packing=target,
                           memory_packing=source).logits

    def encode(self, source_ids, training=False, packing=None):
        """Encoder output [B, S, d_model] for source_ids int [B, S]; [N, d_model] for the real tokens only when
        given their `Packing` (tf_transformer/layers/packing.py)."""
        x = self.source_positions(self.source_embedding(source_ids))
        x = self.source_dropout(x if packing is None else packing.pack(x), training=training)
        return self.encoder(x, attention_mask=padding_mask(source_ids, PAD_ID), training=training, packing=packing)

    def decode(self, target_ids, memory, memory_mask, training=False, packing=None, memory_packing=None):
        """Teacher-forced decoder pass over the whole target.

        Args:
            target_ids: int [B, T]; memory: encoder output [B, S, d_model] (or packed [N, d_model] with its
                `memory_packing`); memory_mask: bool [B, 1, S].
            training: whether dropout is active.
            packing: the target's `Packing`: the decoder then runs on real tokens only; the logits at padding
                positions are 0.

        Returns:
            a `Decoded`: logits float32 [B, T, V] and every layer's cross-attention weights [B, h, T, S].
        """
        length = ops.shape(target_ids)[1]
        self_mask = ops.logical_and(causal_mask(length), padding_mask(target_ids, PAD_ID))
        x = self.target_positions(self.target_embedding(target_ids))
        x = self.target_dropout(x if packing is None else packing.pack(x), training=training)
        decoded = self.decoder(x, memory, self_mask=self_mask, memory_mask=memory_mask, training=training,
                               packing=packing, memory_packing=memory_packing)
        logits = self._logits(decoded.output)
        logits = logits if packing is None else packing.unpack(logits)
        return Decoded(logits, decoded.attention_weights)

    def initial_cache(self, memory, max_length=None):
        """Decoding cache (see `Decoder.initial_cache`) for `max_length` (default config.max_length) positions."""
        return self.decoder.initial_cache(memory, self.config.max_length if max_length is None else max_length)

    def decode_step(self, target_ids, memory_mask, cache, step):
        """Advance decoding by one position using the cache.

        Args:
            target_ids: int [B, 1], the token at position `step`.
            memory_mask: bool [B, 1, S], True at real source tokens.
            cache: from `initial_cache` (or the previous step), static shapes.
            step: int scalar, the position of target_ids (0 for [START]).

        Returns:
            a `DecodedStep`: logits float32 [B, V] for position step + 1 and the cache with position `step` written.
        """
        cache_length = ops.shape(cache["layer_0"]["self"]["key"])[2]
        target_ids = ops.reshape(target_ids, (-1, 1))  # a static 1: the attention cache write is then one select
        x = self.target_positions(self.target_embedding(target_ids), start=step)
        decoded = self.decoder(x, None, self_mask=causal_mask(1, cache_length, start=step), memory_mask=memory_mask,
                               cache=cache, cache_index=step)
        return DecodedStep(self._logits(decoded.output)[:, 0], decoded.cache)

    def _logits(self, x):
        logits = self.target_embedding.logits(x) if self.output_projection is None else self.output_projection(x)
        return ops.cast(logits, "float32")

    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(ModelConfig(**config.pop("config")), **config)


def _unpack(inputs):
    if isinstance(inputs, dict):
        return inputs["source_ids"], inputs["target_ids"]
    source_ids, target_ids = inputs
    return source_ids, target_ids
