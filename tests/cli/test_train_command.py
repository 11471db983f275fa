"""`tf-transformer train`: the flags that errors and the README point to exist and do what they say."""

import pytest

from tf_transformer.cli import build_parser
from tf_transformer.commands.train import load_recipe_of
from tf_transformer.config import DataConfig
from tf_transformer.data import load_corpus
from tf_transformer.errors import DataError


def test_skip_malformed_named_by_the_corpus_error_skips_and_counts_the_line(tmp_path):
    corpus = tmp_path / "train.tsv"
    corpus.write_text("hallo\thello\nkein tab hier\ntschüss\tbye\n", encoding="utf-8")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"data: {{corpus: tsv, path: {corpus}}}\n", encoding="utf-8")
    with pytest.raises(DataError, match="--skip-malformed"):
        load_corpus(DataConfig(corpus="tsv", path=str(corpus)))

    args = build_parser().parse_args(["train", "--config", str(recipe), "--skip-malformed"])
    loaded = load_recipe_of(args)
    assert loaded.data.skip_malformed is True
    assert load_corpus(loaded.data).skipped == 1
    assert load_recipe_of(build_parser().parse_args(["train", "--config", str(recipe)])).data.skip_malformed is False
