"""Properties of the whole Transformer: padding invariance, causality, cached decoding, sizes, serialization."""

import keras
import numpy as np
import pytest

from tf_transformer import ModelConfig, Transformer, layers
from tf_transformer.errors import ConfigError
from tf_transformer.model import Decoded, DecodedStep

VARIANTS = {
    "post-ln": {},
    "pre-ln learned gelu": dict(norm_position="pre", positional="learned", activation="gelu"),
    "untied shared": dict(tie_output=False, share_embeddings=True, target_vocab_size=50),
    "deep encoder shallow decoder": dict(num_layers=3, num_decoder_layers=1),
}


def _model(**overrides):
    keras.utils.set_random_seed(1)
    config = dict(source_vocab_size=50, target_vocab_size=60, dropout=0.0)
    model = Transformer(ModelConfig.preset("tiny", **{**config, **overrides}))
    model.build()
    return model


@pytest.mark.parametrize("variant", VARIANTS)
def test_padding_at_source_never_changes_logits(variant, rng):
    model = _model(**VARIANTS[variant])
    source = rng.integers(4, 50, (3, 9))
    source[0, 6:], source[1, 4:] = 0, 0                  # rows 0 and 1 are padded
    target = rng.integers(4, 50, (3, 5))
    longer = np.concatenate([source, np.zeros((3, 4), source.dtype)], axis=1)   # more padding on the right
    before = model({"source_ids": source, "target_ids": target})
    after = model({"source_ids": longer, "target_ids": target})
    np.testing.assert_allclose(before, after, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_future_target_tokens_never_change_earlier_logits(variant, rng):
    model = _model(**VARIANTS[variant])
    source, target = rng.integers(4, 50, (2, 7)), rng.integers(4, 50, (2, 9))
    changed = target.copy()
    changed[:, 5:] = rng.integers(4, 50, (2, 4))          # rewrite the future from position 5 on
    before = model({"source_ids": source, "target_ids": target})
    after = model({"source_ids": source, "target_ids": changed})
    np.testing.assert_allclose(before[:, :5], after[:, :5], atol=1e-5)
    assert np.abs(before[:, 5:] - after[:, 5:]).max() > 1e-3   # the changed positions do see their input


@pytest.mark.parametrize("variant", VARIANTS)
def test_cached_decode_steps_equal_the_full_pass(variant, rng):
    model = _model(**VARIANTS[variant])
    source, target = rng.integers(4, 50, (3, 8)), rng.integers(4, 50, (3, 11))
    source[2, 5:] = 0
    full = model({"source_ids": source, "target_ids": target}).numpy()
    cache = model.initial_cache(model.encode(source), max_length=16)
    mask = layers.padding_mask(source)
    for step in range(target.shape[1]):
        decoded = model.decode_step(target[:, step:step + 1], mask, cache, step)
        assert isinstance(decoded, DecodedStep)
        assert [tuple(x.shape) for x in keras.tree.flatten(decoded.cache)] == \
            [tuple(x.shape) for x in keras.tree.flatten(cache)]                  # static shapes, same structure
        logits, cache = decoded                                                  # unpacks as a pair
        np.testing.assert_allclose(logits, full[:, step], atol=1e-4, err_msg=f"step {step}")


def test_decode_gives_the_logits_of_the_full_pass_and_each_layers_weights(rng):
    model = _model()
    source, target = rng.integers(4, 50, (2, 6)), rng.integers(4, 50, (2, 4))
    source[1, 4:] = 0
    memory, mask = model.encode(source), layers.padding_mask(source)
    decoded = model.decode(target, memory, mask)
    assert isinstance(decoded, Decoded)
    logits, weights = decoded                                            # unpacks as a pair
    np.testing.assert_array_equal(logits, model({"source_ids": source, "target_ids": target}))
    assert [w.shape for w in weights] == [(2, model.config.num_heads, 4, 6)] * model.config.decoder_layers
    assert all(np.all(np.asarray(w)[1, :, :, 4:] == 0.0) for w in weights)    # never on source padding


def test_weight_paths_stay_those_exports_and_checkpoints_map_by():
    model = _model(norm_position="pre", tie_output=False)
    attention = ["qkv/kernel", "qkv/bias", "output/kernel", "output/bias"]
    cross = ["query/kernel", "query/bias", "key_value/kernel", "key_value/bias", "output/kernel", "output/bias"]
    feed_forward = ["feed_forward/hidden/kernel", "feed_forward/hidden/bias", "feed_forward/output/kernel",
                    "feed_forward/output/bias"]
    norm = lambda name: [f"{name}/gamma", f"{name}/beta"]  # noqa: E731
    encoder_layer = ([f"self_attention/{p}" for p in attention] + feed_forward + norm("attention_norm")
                     + norm("feed_forward_norm"))
    decoder_layer = ([f"self_attention/{p}" for p in attention] + [f"cross_attention/{p}" for p in cross]
                     + feed_forward + norm("self_attention_norm") + norm("cross_attention_norm")
                     + norm("feed_forward_norm"))
    expected = (["source_embedding/embeddings", "target_embedding/embeddings"]
                + [f"encoder/layer_{i}/{p}" for i in range(2) for p in encoder_layer] + norm("encoder/final_norm")
                + [f"decoder/layer_{i}/{p}" for i in range(2) for p in decoder_layer] + norm("decoder/final_norm")
                + ["output_projection/kernel", "output_projection/bias"])
    paths = [v.path.split("/", 1)[1] for v in model.weights]             # below the model's own name
    assert paths == expected


def test_decoder_depth_is_set_apart_from_the_encoders():
    model = _model(num_layers=3, num_decoder_layers=1)
    assert (len(model.encoder.stack), len(model.decoder.stack)) == (3, 1)
    assert list(model.initial_cache(model.encode(np.ones((1, 4), "int32")), max_length=8)) == ["layer_0"]
    equal = _model(num_layers=3)
    assert (len(equal.decoder.stack), equal.config.decoder_layers) == (3, 3)      # unset: the encoder's depth
    assert model.count_params() < equal.count_params()


@pytest.mark.parametrize("preset, paper", [("base", 65e6), ("big", 213e6)])
def test_parameter_counts_match_the_paper(preset, paper):
    config = ModelConfig.preset(preset, source_vocab_size=37000, target_vocab_size=37000, share_embeddings=True)
    model = Transformer(config)
    model.build()
    assert abs(model.count_params() - paper) / paper < 0.05, model.count_params()


def test_model_round_trips_through_a_keras_file(tmp_path, rng):
    model = _model(norm_position="pre", num_decoder_layers=1)
    source, target = rng.integers(4, 50, (2, 6)), rng.integers(4, 50, (2, 4))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, Transformer) and loaded.config == model.config
    np.testing.assert_allclose(model((source, target)), loaded((source, target)), atol=1e-6)
    clone = Transformer.from_config(model.get_config())
    assert clone.config == model.config


@pytest.mark.parametrize("overrides, field", [
    (dict(d_model=100, num_heads=8), "not divisible"),
    (dict(dropout=1.5), "model.dropout"),
    (dict(norm_position="middle"), "model.norm_position"),
    (dict(share_embeddings=True, target_vocab_size=70), "share_embeddings"),
    (dict(num_layers=0), "model.num_layers"),
    (dict(num_decoder_layers=0), "model.num_decoder_layers"),
    (dict(num_decoder_layers=1.5), "model.num_decoder_layers"),
])
def test_invalid_configs_raise_clear_errors(overrides, field):
    with pytest.raises(ConfigError, match=field):
        ModelConfig.preset("tiny", **{"source_vocab_size": 50, "target_vocab_size": 60, **overrides})


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="tiny, base, big"):
        ModelConfig.preset("huge")
