"""`tf-transformer vocab` builds loadable tokenizers from a text file or a recipe and reports bad input in one line."""

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
