"""The .tflite translator: on LiteRT it gives the SavedModel's translations and scores (greedy and beam), stops at
[END], needs no Flex op, survives awkward inputs, and its CLI (tflite, translate/evaluate --tflite) works.

Every file converts the session's tiny trained export (`trained_run`: spell-backwards, char -> whitespace tokens,
beam size 3, max_length 16); a conversion takes a few seconds.
"""

import os
import random

import numpy as np
import pytest
import tensorflow as tf

from tf_transformer.config import END_ID, PAD_ID
from tf_transformer.errors import ConfigError, ModelPathError
from tf_transformer.export.litert import LiteRTTranslator
from tf_transformer.export.tflite import custom_ops, export_tflite, model_ops, read_metadata

NON_UTF8 = [b"\xff\xfe\xfa", b"ab\xc3(cd", b"\xe2\x82", b"abc\x80"]


def _inputs():
    """60 words of the task's letters (some over max_length, capitals, spaces) and the awkward inputs."""
    rng = random.Random(2)
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 9))) for _ in range(50)]
    words += ["ABC", "a b  c", "\tj\u00a0i ", "j" * 20, "abcdefghij" * 3, "hij", "x", "é", "", "   "]
    return [word.encode("utf-8") for word in words] + NON_UTF8 + [b"abcdefghij" * 500]


@pytest.fixture(scope="module")
def files(trained_run, tmp_path_factory):
    """{variant: path} of the tflite files of the trained export."""
    root = tmp_path_factory.mktemp("tflite")
    variants = {"greedy": {}, "beam": {"decoding": "beam"}, "dynamic": {"quantize": "dynamic"},
                "ids": {"ids_only": True}}
    return {name: export_tflite(model_path=trained_run["model_dir"], output=str(root / f"{name}.tflite"),
                                **options)[0] for name, options in variants.items()}


@pytest.fixture(scope="module")
def saved_model(trained_run):
    import tensorflow_text  # noqa: F401

    return tf.saved_model.load(trained_run["export"])


def _run_text(path, texts):
    outputs = LiteRTTranslator(path).runner(text=np.array(texts, dtype=object))
    return outputs["translation"], outputs["score"]


def _run_saved_model(saved_model, signature, texts):
    outputs = saved_model.signatures[signature](text=tf.constant(texts, tf.string))
    return outputs["translation"].numpy(), outputs["score"].numpy()


@pytest.mark.parametrize("variant, signature", [("greedy", "greedy"), ("beam", "serving_default")])
def test_the_tflite_file_translates_exactly_as_the_saved_model(files, saved_model, variant, signature):
    texts = _inputs()
    translations, scores = _run_text(files[variant], texts)
    expected_translations, expected_scores = _run_saved_model(saved_model, signature, texts)
    assert list(translations) == list(expected_translations)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-4)


def test_a_zero_length_batch_gives_zero_outputs(files, saved_model):
    expected, _ = _run_saved_model(saved_model, "greedy", [])
    assert expected.shape == (0,) and LiteRTTranslator(files["greedy"]).translate_batch([]) == []


def test_ids_only_file_equals_in_process_greedy_decoding_and_stops_at_end(files, trained_run):
    from tf_transformer.decoding import make_decode_fn
    from tf_transformer.run_dir import load_run

    run = load_run(trained_run["run_dir"])
    texts = [text.decode("utf-8", "replace") for text in _inputs()[:50]]
    source_ids = run.source_tokenizer.tokenize(tf.constant(texts)).to_tensor().numpy()[:, :16]
    target_ids, scores = LiteRTTranslator(files["ids"]).translate_ids(source_ids)
    decode = make_decode_fn(run.model, "greedy", max_extra_length=trained_run["recipe"].decoding.max_extra_length)
    expected_ids, expected_scores = decode(tf.constant(source_ids, tf.int32))
    np.testing.assert_array_equal(target_ids, expected_ids.numpy())
    np.testing.assert_allclose(scores, expected_scores.numpy(), atol=1e-4)
    # stopping: a row ends at its first [END] or at its limit (source length + max_extra_length, at most 16)
    limits = np.minimum((source_ids != PAD_ID).sum(1) + trained_run["recipe"].decoding.max_extra_length, 16)
    lengths = (target_ids != PAD_ID).sum(1)
    for row, length, limit in zip(target_ids, lengths, limits):
        ended = END_ID in row[:length]
        assert ended or length == limit
        if ended:
            assert list(row[:length]).index(END_ID) == length - 1
    assert target_ids.shape[1] == lengths.max()  # trimmed to the longest row, not padded to max_length


def test_files_use_builtins_and_tensorflow_text_ops_only(files):
    for name, path in files.items():
        with open(path, "rb") as file:
            ops = model_ops(file.read())
        assert "WHILE" in ops  # the search is the cached while loop, not an unrolled graph
        assert not any(op.startswith("Flex") for op in ops)
        custom = custom_ops(ops)
        if name == "ids":
            assert custom == []
        else:  # the tokenizers' byte split and the detokenizer's string join, tensorflow-text kernels
            assert custom == ["TFText>ByteSplitWithOffsets", "TFText>NgramsStringJoin"]


def test_the_file_describes_itself(files, trained_run):
    with open(files["beam"], "rb") as file:
        facts = read_metadata(file.read())
    assert facts["decoding"] == "beam" and facts["options"]["beam_size"] == 3
    assert facts["recipe"]["name"] == trained_run["recipe"].name
    assert facts["source_tokenizer"] == "char" and facts["target_tokenizer"] == "whitespace"


def test_dynamic_quantization_keeps_translating(files, saved_model):
    texts = _inputs()[:50]
    translations, scores = _run_text(files["dynamic"], texts)
    expected, expected_scores = _run_saved_model(saved_model, "greedy", texts)
    assert np.mean(translations == expected) > 0.8  # int8 weights move few argmaxes of a trained model
    assert os.path.getsize(files["dynamic"]) < os.path.getsize(files["greedy"])


def test_dynamic_quantization_shrinks_a_g2p_size_model_below_35_percent(trained_run, tmp_path):
    """At the size of the g2p recipe (3+3 layers of 256) the weights dominate the file."""
    import keras

    from tf_transformer import ModelConfig, Transformer
    from tf_transformer.export.tflite import convert_translator
    from tf_transformer.run_dir import load_run

    run = load_run(trained_run["run_dir"])
    keras.utils.set_random_seed(0)
    model = Transformer(ModelConfig.preset("base", d_model=256, num_layers=3, num_heads=4, d_ff=1024, max_length=32,
                                           source_vocab_size=run.model.config.source_vocab_size,
                                           target_vocab_size=run.model.config.target_vocab_size))
    model.build()
    sizes = {quantize: len(convert_translator(model, run.source_tokenizer, run.target_tokenizer,
                                              quantize=quantize)[0]) for quantize in ("none", "dynamic", "float16")}
    assert sizes["dynamic"] <= 0.35 * sizes["none"]
    assert sizes["float16"] <= 0.6 * sizes["none"]


def test_cli_converts_and_translates_like_the_export(trained_run, tmp_path, capsys):
    from tf_transformer.cli import main

    output = str(tmp_path / "model.tflite")
    assert main(["tflite", "--model", trained_run["model_dir"], "--output", output]) == 0
    printed = capsys.readouterr().out
    assert "TFText>" in printed and "no Flex ops" in printed and "WHILE" in printed
    words = ["abc", "hello", "", "j" * 20]
    assert main(["translate", "--tflite", output, "--scores", *words]) == 0
    from_tflite = capsys.readouterr().out
    assert main(["translate", "--model", trained_run["model_dir"], "--beam-size", "1", "--scores", *words]) == 0
    assert from_tflite == capsys.readouterr().out
    assert main(["evaluate", "--tflite", output, "--split", "dev", "--limit", "20", "--quiet"]) == 0
    assert "greedy (tflite, none)" in capsys.readouterr().out


def test_bad_requests_are_one_line_errors(trained_run, files, tmp_path, capsys):
    from tf_transformer.cli import main

    assert main(["translate", "--tflite", files["greedy"], "--beam-size", "3", "abc"]) == 2
    assert "--beam-size 3 is not possible with --tflite" in capsys.readouterr().err
    assert main(["translate", "--tflite", files["ids"], "abc"]) == 2
    assert "--ids-only file takes ids" in capsys.readouterr().err
    not_tflite = tmp_path / "x.tflite"
    not_tflite.write_bytes(b"not a model")
    with pytest.raises(ModelPathError, match="LiteRT cannot load it"):
        LiteRTTranslator(str(not_tflite))
    with pytest.raises(ModelPathError, match="no such .tflite"):
        LiteRTTranslator(str(tmp_path / "missing.tflite"))
    with pytest.raises(ConfigError, match="quantize"):
        export_tflite(run_dir=trained_run["run_dir"], quantize="int4")
    with pytest.raises(ModelPathError, match="does not exist"):
        export_tflite(run_dir=trained_run["run_dir"], output=str(tmp_path / "no" / "such" / "dir.tflite"))


def test_a_wordpiece_translator_equals_the_saved_model_graph(tmp_path):
    """WordPiece runs through tensorflow-text's own TFLite kernels (random weights: only equality matters)."""
    import keras

    from tf_transformer import ModelConfig, Transformer
    from tf_transformer.config import DecodingConfig, TokenizerConfig
    from tf_transformer.export.saved_model import ServingModule
    from tf_transformer.export.tflite import convert_translator
    from tf_transformer.text import build_tokenizer

    text = ["Guten Morgen, Welt!", "Grüße aus Köln", "good morning, world!", "greetings from cologne"] * 20
    source = build_tokenizer(TokenizerConfig(kind="wordpiece", vocab_size=60, lowercase=False), text)
    target = build_tokenizer(TokenizerConfig(kind="wordpiece", vocab_size=60), text)
    keras.utils.set_random_seed(0)
    model = Transformer(ModelConfig.preset("tiny", source_vocab_size=source.vocab_size,
                                           target_vocab_size=target.vocab_size, max_length=16))
    model.build()
    path = tmp_path / "wordpiece.tflite"
    content, ops = convert_translator(model, source, target, "greedy", {"max_extra_length": 4})
    path.write_bytes(content)
    assert {"FastWordpieceTokenizeWithOffsets", "TFText>FastWordpieceDetokenize"} <= set(ops)
    inputs = [b"Guten Morgen", b"K\xc3\xb6ln, Welt!", b"", b"\xff\xfe", b"Morgen " * 400]
    expected = ServingModule(model, source, target, DecodingConfig(max_extra_length=4)).serve_greedy(
        tf.constant(inputs))
    translations, scores = _run_text(str(path), inputs)
    assert list(translations) == list(expected["translation"].numpy())
    np.testing.assert_allclose(scores, expected["score"].numpy(), atol=1e-4)
