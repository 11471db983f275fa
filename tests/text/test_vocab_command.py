"""`tf-transformer vocab` builds loadable tokenizers from a text file or a recipe and reports bad input in one line."""

import pytest
import tensorflow as tf

from tf_transformer.cli import main
from tf_transformer.text import load_tokenizer


def test_vocab_from_a_corpus_column_and_from_a_recipe(tmp_path):
    corpus = tmp_path / "pairs.tsv"
    corpus.write_text("".join(f"wort{i} und mehr\tword{i} and more\n" for i in range(40)), encoding="utf-8")
    assert main(["vocab", "--corpus", str(corpus), "--column", "1", "--kind", "whitespace", "--vocab-size", "none",
                 "--output", str(tmp_path / "en")]) == 0
    english = load_tokenizer(tmp_path / "en")
    assert english.kind == "whitespace" and english.vocab_size % 8 == 0
    assert english.detokenize(english.tokenize(tf.constant(["word3 and more"]))).numpy()[0] == b"word3 and more"

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"data: {{corpus: tsv, path: {corpus}}}\nsource_tokenizer: {{kind: char, vocab_size: null}}\n"
                      "target_tokenizer: {kind: wordpiece, vocab_size: 64}\n", encoding="utf-8")
    assert main(["vocab", "--config", str(recipe), "--output", str(tmp_path / "vocab")]) == 0
    assert load_tokenizer(tmp_path / "vocab" / "source").kind == "char"
    assert load_tokenizer(tmp_path / "vocab" / "target").kind == "wordpiece"


def test_vocab_errors_are_one_line_with_file_and_line(tmp_path, capsys):
    corpus = tmp_path / "pairs.tsv"
    corpus.write_text("a\tb\nno tab\n", encoding="utf-8")
    assert main(["vocab", "--corpus", str(corpus), "--column", "1", "--output", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and error.startswith(f"error: {corpus}:2: ")
    assert main(["vocab", "--corpus", str(tmp_path / "missing.txt"), "--output", str(tmp_path / "out")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_vocab_column_reads_lines_as_training_does(tmp_path, capsys):
    from tf_transformer.config import DataConfig
    from tf_transformer.data import load_corpus
    from tf_transformer.errors import DataError

    corpus = tmp_path / "pairs.tsv"
    corpus.write_text("hallo\thello\nkeintab\n\ntschüss\tbye\n", encoding="utf-8")
    with pytest.raises(DataError) as raised:
        load_corpus(DataConfig(corpus="tsv", path=str(corpus)))
    training_error = f"error: {raised.value}"
    for column in ("0", "1"):
        argv = ["vocab", "--corpus", str(corpus), "--column", column, "--kind", "whitespace", "--vocab-size", "none",
                "--output", str(tmp_path / column)]
        assert main(argv) == 2
        assert capsys.readouterr().err.strip() == training_error
        assert main([*argv, "--skip-malformed"]) == 0
        assert "malformed lines skipped: 1" in capsys.readouterr().out
    source = load_tokenizer(tmp_path / "0")
    assert source.detokenize(source.tokenize(tf.constant(["keintab"]))).numpy()[0] == b"[UNK]"


def test_vocab_config_skip_malformed_sets_the_recipe_value(tmp_path, capsys):
    corpus = tmp_path / "pairs.tsv"
    corpus.write_text("".join(f"wort{i}\tword{i}\n" for i in range(30)) + "keintab\n", encoding="utf-8")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"data: {{corpus: tsv, path: {corpus}}}\nsource_tokenizer: {{kind: whitespace}}\n"
                      "target_tokenizer: {kind: whitespace}\n", encoding="utf-8")
    argv = ["vocab", "--config", str(recipe), "--output", str(tmp_path / "vocab")]
    assert main(argv) == 2 and f"{corpus}:31: " in capsys.readouterr().err
    assert main([*argv, "--skip-malformed"]) == 0
