"""Recipes: an empty section (`training:` with nothing under it) is all defaults and takes --set overrides; values
that make no sense are one-line `ConfigError`s naming the file and the field."""

import os

import pytest

from tf_transformer.config import load_recipe
from tf_transformer.errors import ConfigError

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "training", "configs")

EMPTY_SECTIONS = "name: empty\ndata:\nsource_tokenizer:\nmodel:\ntraining:\ndecoding:\nexport:\n"


def test_empty_sections_are_defaults_and_take_overrides(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(EMPTY_SECTIONS, encoding="utf-8")
    assert load_recipe(path).model == {} and load_recipe(path).training.epochs == 10
    recipe = load_recipe(path, ["training.epochs=3", "model.preset=tiny", "data.path=pairs.tsv",
                                "decoding.beam_size=2", "export.name=mine"])
    assert (recipe.training.epochs, recipe.model, recipe.data.path, recipe.decoding.beam_size,
            recipe.export.name) == (3, {"preset": "tiny"}, "pairs.tsv", 2, "mine")
    assert recipe.model_config(100, 100).d_model == 64
    assert (recipe.task, recipe.best_metric) == ("translation", "bleu")  # the task's first metric by default
    assert load_recipe(path, ["training.best_metric=chrf"]).best_metric == "chrf"
    assert load_recipe(path, ["data.corpus=cmudict", "training.best_metric=per"]).best_metric == "per"
    # a pronunciation lexicon in a tsv file is scored as G2P when data.task says so
    assert (load_recipe(path, ["data.task=g2p"]).task, load_recipe(path, ["data.task=g2p"]).best_metric) == (
        "g2p", "wer")


@pytest.mark.parametrize("text, overrides, expected", [
    ("name: x\n", ["name.first=1"], "name is 'x', not a section with keys; set it with --set name=VALUE"),
    ("- a list\n", ["training.epochs=3"], "expected a mapping of sections"),
    ("model: 3\n", [], "model: expected a mapping of keys to values, got int"),
    ("training:\n  keep_checkpoints: -1\n", [], "training.keep_checkpoints: expected 0 (no per-epoch checkpoints)"),
    # a mistyped choice is refused when the recipe loads, before any corpus is read or run directory made
    ("name: x\n", ["source_tokenizer.kind=wordpeice"],
     "source_tokenizer.kind: expected one of 'wordpiece', 'sentencepiece', 'char', 'whitespace', got 'wordpeice'"),
    ("name: x\n", ["target_tokenizer.vocab_size=3"], "target_tokenizer.vocab_size: must exceed the 4 reserved ids"),
    ("name: x\n", ["source_tokenizer.vocab_size=null"],
     "source_tokenizer.vocab_size: wordpiece needs a vocabulary size (e.g. 8000), got None"),
    ("data:\n  corpus: cmu\n", [], "data.corpus: expected one of 'tsv', 'bitext', 'cmudict', 'ding', got 'cmu'"),
    ("name: x\n", ["data.direction=de_en"], "data.direction: expected one of 'de-en', 'en-de', got 'de_en'"),
    ("name: x\n", ["data.task=G2P"], "data.task: expected one of 'g2p', 'translation', got 'G2P'"),
    ("name: x\n", ["training.best_metric=wer"],
     "training.best_metric (a translation recipe): expected one of 'bleu', 'chrf', got 'wer'"),
    ("name: x\n", ["training.strategy=mirror"], "training.strategy: expected one of 'auto', 'default', 'mirrored'"),
    ("name: x\n", ["training.teachers=runs/g2p"],
     "training.teachers: expected a list ([a, b] in YAML and in --set), got 'runs/g2p'"),
    ("name: x\n", ["training.distillation_weight=1.5"], "training.distillation_weight: expected a share from 0 to 1"),
    ("name: x\n", ["training.distillation_top_k=0"], "training.distillation_top_k: expected 1 or more ids, got 0"),
])
def test_sections_and_values_that_cannot_be_are_config_errors(tmp_path, text, overrides, expected):
    path = tmp_path / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_recipe(path, overrides)
    message = str(raised.value)
    assert "\n" not in message and str(path) in message and expected in message, message


def test_train_set_on_an_empty_section_is_a_one_line_error_at_worst(tmp_path, capsys):
    from tf_transformer.cli import main

    path = tmp_path / "recipe.yaml"
    path.write_text(EMPTY_SECTIONS, encoding="utf-8")
    assert main(["train", "--config", str(path), "--run-dir", str(tmp_path / "run"), "--set",
                 "training.epochs=3"]) == 2  # the recipe loads; its corpus has no path
    err = capsys.readouterr().err
    assert err.startswith("error: data.path:") and err.count("\n") == 1, err


def test_a_mistyped_choice_stops_train_before_it_writes_anything(tmp_path, capsys):
    from tf_transformer.cli import main

    run_dir = tmp_path / "run"
    assert main(["train", "--config", "training/configs/g2p_tiny.yaml", "--run-dir", str(run_dir), "--set",
                 "source_tokenizer.kind=sentencpiece"]) == 2
    err = capsys.readouterr().err
    assert "source_tokenizer.kind:" in err and "got 'sentencpiece'" in err and err.count("\n") == 1, err
    assert not run_dir.exists()


@pytest.mark.parametrize("name", sorted(os.listdir(CONFIGS)))
def test_every_shipped_recipe_loads_and_describes_a_valid_model(name):
    """A typo in a shipped recipe (a misspelled key, a bad value) would reach users as a failed `train`."""
    recipe = load_recipe(os.path.join(CONFIGS, name))
    vocab_size = 8000 if recipe.shared_vocabulary else 100
    config = recipe.model_config(vocab_size, vocab_size)
    assert recipe.name == name.removesuffix(".yaml") and config.d_model % config.num_heads == 0
    assert recipe.training.epochs >= 1 and recipe.best_metric
