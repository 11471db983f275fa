"""Every layer round-trips through get_config/from_config and a .keras file with identical outputs."""

import keras
import numpy as np
import pytest

from tf_transformer import layers

D = 16
CASES = {
    "attention": (lambda: layers.MultiHeadAttention(D, 4, dropout=0.1), "states"),
    "cross_attention": (lambda: layers.MultiHeadAttention(D, 2, self_attention=False), "states+memory"),
    "feed_forward": (lambda: layers.FeedForward(D, 32, activation="gelu"), "states"),
    "positions": (lambda: layers.PositionalEncoding(12, D, kind="learned"), "states"),
    "embedding": (lambda: layers.TokenEmbedding(20, D), "ids"),
    "encoder_layer": (lambda: layers.EncoderLayer(D, 4, 32, norm_position="pre"), "states"),
    "encoder": (lambda: layers.Encoder(2, D, 4, 32), "states"),
    "decoder_layer": (lambda: layers.DecoderLayer(D, 4, 32), "states+memory"),
    "decoder": (lambda: layers.Decoder(2, D, 4, 32, norm_position="pre"), "states+memory"),
}


def _inputs(kind, rng):
    if kind == "ids":
        return (rng.integers(0, 20, (2, 5)),)
    states = (rng.normal(size=(2, 5, D)).astype("float32"),)
    return states + ((rng.normal(size=(2, 3, D)).astype("float32"),) if kind == "states+memory" else ())


def _functional(layer, inputs):
    symbolic = [keras.Input(shape=x.shape[1:], dtype="int32" if x.dtype.kind == "i" else "float32") for x in inputs]
    return keras.Model(symbolic, layer(*symbolic))


@pytest.mark.parametrize("name", CASES)
def test_layer_round_trips(name, rng, tmp_path):
    keras.utils.set_random_seed(0)
    make, kind = CASES[name]
    inputs = _inputs(kind, rng)
    layer = make()
    model = _functional(layer, inputs)
    expected = np.asarray(model(list(inputs)))

    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(list(inputs)), expected, atol=1e-6)
    assert type(loaded.layers[-1]) is type(layer)
