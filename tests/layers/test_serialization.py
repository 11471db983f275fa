"""Every layer round-trips through get_config/from_config and a .keras file with identical outputs; configs written
before `LayerOptions` (flat keys) still load."""

import keras
import numpy as np
import pytest

from tf_transformer import layers

D = 16
OPTIONS = layers.LayerOptions(D, 4, 32)
PRE_LN = layers.LayerOptions(D, 4, 32, norm_position="pre")
CASES = {
    "attention": (lambda: layers.MultiHeadAttention(D, 4, dropout=0.1), "states"),
    "cross_attention": (lambda: layers.MultiHeadAttention(D, 2, self_attention=False), "states+memory"),
    "feed_forward": (lambda: layers.FeedForward(D, 32, activation="gelu"), "states"),
    "positions": (lambda: layers.PositionalEncoding(12, D, kind="learned"), "states"),
    "embedding": (lambda: layers.TokenEmbedding(20, D), "ids"),
    "encoder_layer": (lambda: layers.EncoderLayer(PRE_LN), "states"),
    "encoder": (lambda: layers.Encoder(2, OPTIONS), "states"),
    "decoder_layer": (lambda: layers.DecoderLayer(OPTIONS), "states+memory"),
    "decoder": (lambda: layers.Decoder(2, PRE_LN), "states+memory"),
}
RESULT_LAYERS = (layers.MultiHeadAttention, layers.DecoderLayer, layers.Decoder)  # return a result; take .output


def _inputs(kind, rng):
    if kind == "ids":
        return (rng.integers(0, 20, (2, 5)),)
    states = (rng.normal(size=(2, 5, D)).astype("float32"),)
    return states + ((rng.normal(size=(2, 3, D)).astype("float32"),) if kind == "states+memory" else ())


def _functional(layer, inputs):
    symbolic = [keras.Input(shape=x.shape[1:], dtype="int32" if x.dtype.kind == "i" else "float32") for x in inputs]
    outputs = layer(*symbolic)
    return keras.Model(symbolic, outputs.output if isinstance(layer, RESULT_LAYERS) else outputs)


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


@pytest.mark.parametrize("layer_class, extra", [(layers.EncoderLayer, {}), (layers.Encoder, {"num_layers": 2}),
                                                (layers.DecoderLayer, {}), (layers.Decoder, {"num_layers": 2})])
def test_configs_with_the_flat_option_keys_of_earlier_versions_load(layer_class, extra):
    old = {"name": "old", "trainable": True, "dtype": "float32", "d_model": D, "num_heads": 4, "d_ff": 32,
           "dropout": 0.2, "attention_dropout": 0.0, "ffn_dropout": 0.1, "activation": "gelu",
           "norm_position": "pre", "layer_norm_epsilon": 1e-5, **extra}
    layer = layer_class.from_config(old)
    assert layer.options == layers.LayerOptions(D, 4, 32, 0.2, 0.0, 0.1, "gelu", "pre", 1e-5)
    config = layer.get_config()
    assert all(config[key] == value for key, value in old.items() if key != "dtype")  # written back as they came


def test_layer_options_are_the_model_configs_fields_with_its_defaults():
    import dataclasses

    from tf_transformer import ModelConfig

    model_fields = {field.name: field for field in dataclasses.fields(ModelConfig)}
    for field in dataclasses.fields(layers.LayerOptions):
        assert field.name in model_fields, field.name
        if field.default is not dataclasses.MISSING:
            assert field.default == model_fields[field.name].default, field.name
    config = ModelConfig.preset("tiny", norm_position="pre", ffn_dropout=0.2)
    assert layers.LayerOptions.of(config).to_dict() == {name: getattr(config, name)
                                                        for name in layers.LayerOptions.names()}
