"""`tf-transformer attention`: the heat-map shows the cross-attention of the greedy output, row by row."""

from pathlib import Path

import numpy as np
import pytest

from tf_transformer.attention_map import attention_map, plot_attention, select_panels, token_labels
from tf_transformer.cli import main
from tf_transformer.config import END_ID, PAD_ID, START_ID

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(trained_run):
    from tf_transformer.run_dir import load_run

    return load_run(trained_run["run_dir"])


def test_weights_are_those_of_the_greedy_decoding(run):
    from tf_transformer.layers import padding_mask

    attention = attention_map(run.model, run.source_tokenizer, run.target_tokenizer, "bdfh")
    layers, heads = run.model.config.decoder_layers, run.model.config.num_heads
    rows, columns = len(attention.output_tokens), len(attention.source_tokens)
    assert attention.source_tokens == list("bdfh")  # characters in, one column each
    assert attention.weights.shape == (layers, heads, rows, columns)
    np.testing.assert_allclose(attention.weights.sum(axis=-1), 1.0, atol=1e-5)
    # the teacher-forced pass over [START] + output predicts exactly that output at every row
    vocabulary = run.target_tokenizer.vocabulary()
    output = [vocabulary.index(token) for token in attention.output_tokens]
    source = np.array([run.source_tokenizer.tokenize(["bdfh"]).to_list()[0]], np.int32)
    logits = run.model.decode(np.array([[START_ID] + output[:-1]], np.int32), run.model.encode(source),
                              padding_mask(source, PAD_ID)).logits
    logits = np.array(logits)[0]
    logits[:, [PAD_ID, START_ID]] = -np.inf  # never chosen by the decoder
    assert list(np.argmax(logits, axis=-1)) == output
    words = [token for token in attention.output_tokens if token != "[END]"]
    assert " ".join(words) == attention.translation and (output[-1] == END_ID or len(output) > 1)


def test_panels_average_heads_or_pick_one(run, tmp_path):
    weights = np.random.default_rng(0).random((2, 3, 4, 5)).astype(np.float32)
    averaged = select_panels(weights)
    assert [title for title, _ in averaged] == ["layer 1, 3 heads averaged", "layer 2, 3 heads averaged"]
    np.testing.assert_allclose(averaged[1][1], weights[1].mean(axis=0))
    ((title, matrix),) = select_panels(weights, layer=2, head=3)
    assert title == "layer 2, head 3"
    np.testing.assert_array_equal(matrix, weights[1, 2])
    attention = attention_map(run.model, run.source_tokenizer, run.target_tokenizer, "abcd")
    path = plot_attention(attention, str(tmp_path / "one_head.png"), layer=1, head=2)
    assert Path(path).read_bytes()[:8] == PNG_SIGNATURE


def test_labels_show_spaces_and_unknown_ids_visibly():
    class Vocabulary:
        def vocabulary(self):
            return ["[PAD]", "[UNK]", "[START]", "[END]", " ", "a b", "x"]

    assert token_labels(Vocabulary(), [6, 4, 5, 99, 3]) == ["x", "␣", "a␣b", "[UNK]", "[END]"]


def test_command_writes_a_png_and_prints_the_translation(trained_run, run, tmp_path, capsys):
    output = tmp_path / "attention.png"
    assert main(["attention", "--run-dir", trained_run["run_dir"], "gfedcba", "--output", str(output)]) == 0
    printed = capsys.readouterr().out.splitlines()
    expected = attention_map(run.model, run.source_tokenizer, run.target_tokenizer, "gfedcba",
                             trained_run["recipe"].decoding.max_extra_length)
    assert printed[0] == expected.translation and str(output) in printed[1]
    data = output.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 5000


def test_an_export_draws_the_attention_of_its_run_directory(trained_run, run, tmp_path, capsys):
    import tensorflow as tf

    from tf_transformer.attention_map import export_attention_map

    signature = tf.saved_model.load(trained_run["export"]).signatures["attention"]
    exported = export_attention_map(signature, "gfedcba")
    expected = attention_map(run.model, run.source_tokenizer, run.target_tokenizer, "gfedcba",
                             trained_run["recipe"].decoding.max_extra_length)
    assert exported.source_tokens == expected.source_tokens and exported.output_tokens == expected.output_tokens
    assert exported.translation == expected.translation
    np.testing.assert_allclose(exported.weights, expected.weights, atol=1e-5)
    output = tmp_path / "export.png"
    assert main(["attention", "--model", trained_run["model_dir"], "gfedcba", "--output", str(output)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == expected.translation
    assert output.read_bytes()[:8] == PNG_SIGNATURE
    assert main(["attention", "--model", trained_run["model_dir"], "abc", "--max-extra-length", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--max-extra-length" in err and "--run-dir" in err


@pytest.mark.parametrize("extra, expected", [
    (["--layer", "2"], "layers 1..1"),
    (["--head", "3"], "heads 1..2"),
    (["--output", "attention.jpg"], "*.png"),
])
def test_mistakes_are_one_line_errors(trained_run, capsys, extra, expected):
    assert main(["attention", "--run-dir", trained_run["run_dir"], "abc", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err


def test_an_empty_text_is_a_one_line_error(trained_run, tmp_path, capsys):
    assert main(["attention", "--run-dir", trained_run["run_dir"], "", "--output", str(tmp_path / "a.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "non-empty" in err
