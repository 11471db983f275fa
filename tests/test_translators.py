"""`tf_transformer.translators`: a source with fixed decoding (an export, a .tflite) refuses what it cannot honour
in one sentence of the same shape, naming the first such option, before any model loads; a run directory takes
every consistent request and refuses contradictions before its model loads; `load_run` refuses an export."""

import json
import re

import pytest

from tf_transformer import translators
from tf_transformer.config import DecodingConfig, Recipe, save_recipe
from tf_transformer.errors import ConfigError, ModelPathError
from tf_transformer.run_dir import load_run
from tf_transformer.translators import (
    DecodingRequest,
    Source,
    decoding_for,
    decoding_rows,
    evaluation_translators,
    load_attention_export,
    load_translator,
    refuse_unhonoured,
)

REFUSED = [({"beam_size": 2}, "--beam-size 2"), ({"n_best": 2}, "--n-best"), ({"sample": True}, "--sample"),
           ({"jit_compile": True}, "--xla"), ({"jit_compile": False}, "--no-xla"),
           ({"length_penalty": 0.2}, "--length-penalty"), ({"max_extra_length": 3}, "--max-extra-length"),
           ({"top_p": 0.9}, "--top-p"), ({"seed": 1}, "--seed")]


def _refusal(source, option):
    """The one sentence every fixed-decoding source uses for `option`."""
    return (rf"^{re.escape(option)} is not possible with {re.escape(str(source))}: it decodes only as "
            r"(exported|converted) \(.+\); use --run-dir DIR for other options$")


@pytest.fixture
def export(tmp_path):
    """saved_models/demo with one version whose serving_default is a beam of 3 (only the files read before
    loading: a load would fail, so a refusal is proven to come first)."""
    version = tmp_path / "saved_models" / "demo" / "1"
    (version / "assets.extra").mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"")
    (version / "assets.extra" / "tf_transformer.json").write_text(json.dumps({"decoding": {"beam_size": 3}}))
    save_recipe(Recipe(name="demo"), str(version / "assets.extra" / "recipe.yaml"))
    return version.parent


class _GreedyFile:
    """What `LiteRTTranslator` reads from a greedy text-in file of `tf-transformer tflite` (no LiteRT needed)."""

    n_best, jit_compile, ids_only, beam_size = 1, False, False, 1

    def __init__(self, path):
        self.facts = {"decoding": "greedy", "quantize": "none", "recipe": {"name": "demo"}}


@pytest.fixture
def tflite(tmp_path, monkeypatch):
    monkeypatch.setattr(translators, "LiteRTTranslator", _GreedyFile)
    return tmp_path / "demo.tflite"


@pytest.mark.parametrize("asked, option", REFUSED)
def test_every_fixed_decoding_source_refuses_an_option_in_the_same_sentence(export, tflite, asked, option):
    request = DecodingRequest(**asked)
    for source in (Source(model=str(export)), Source(tflite=str(tflite))):
        with pytest.raises(ConfigError, match=_refusal(source, option)):
            load_translator(source, request)
        if set(asked) <= {"beam_size", "jit_compile"}:  # what `evaluate` asks for
            with pytest.raises(ConfigError, match=_refusal(source, option)):
                evaluation_translators(source, request.beam_size, request.jit_compile)


def test_the_attention_signature_refuses_a_length_limit_in_the_same_sentence(export):
    source = Source(model=str(export))
    with pytest.raises(ConfigError, match=_refusal(source, "--max-extra-length")):
        load_attention_export(source, max_extra_length=3)


def test_the_first_option_named_is_the_most_important(export):
    request = DecodingRequest(beam_size=2, n_best=2, sample=True, top_k=5, jit_compile=True)
    assert request.options_beyond((None, 1)) == ["--beam-size 2", "--n-best", "--xla", "--sample", "--top-k"]
    with pytest.raises(ConfigError, match=r"^--beam-size 2 is not possible"):
        load_translator(Source(model=str(export)), request)


def test_what_a_source_decodes_with_is_not_refused():
    source = Source(model="saved_models/demo")
    for beam in (None, 1, 3):
        assert refuse_unhonoured(DecodingRequest(beam_size=beam), source, (None, 1, 3), "as exported (...)") is None


def test_out_of_range_requests_and_ambiguous_sources_are_refused_before_anything_loads():
    with pytest.raises(ConfigError, match=r"^--beam-size must be >= 1"):
        DecodingRequest(beam_size=0)
    with pytest.raises(ConfigError, match=r"^--n-best must be >= 1"):
        DecodingRequest(n_best=0)
    with pytest.raises(ConfigError, match="exactly one of --run-dir"):
        Source()
    with pytest.raises(ConfigError, match="--run-dir and --model"):
        Source(run_dir="runs/a", model="saved_models/a")


def test_a_run_directory_refuses_contradictions_before_its_model_loads(tmp_path):
    save_recipe(Recipe(name="demo"), str(tmp_path / "recipe.yaml"))  # no vocab, no model: loading would fail
    for asked, expected in (({"temperature": 0.5}, "add --sample"), ({"sample": True, "n_best": 2}, "--sample"),
                            ({"beam_size": 2, "n_best": 3}, "add --beam-size 3"),
                            ({"max_extra_length": -1}, "--max-extra-length must be >= 0")):
        with pytest.raises(ConfigError, match=re.escape(expected)):
            load_translator(Source(run_dir=str(tmp_path)), DecodingRequest(**asked))


def test_a_run_directory_decodes_as_asked_with_the_recipe_for_the_rest():
    recipe = DecodingConfig(beam_size=4, length_penalty=0.6, max_extra_length=5)
    method, options = decoding_for(DecodingRequest(n_best=2), recipe)
    assert method == "beam" and options["beam_size"] == 4 and options["n_best"] == 2
    assert options["length_penalty"] == 0.6 and options["max_extra_length"] == 5
    assert decoding_for(DecodingRequest(beam_size=1), recipe)[0] == "greedy"
    method, options = decoding_for(DecodingRequest(sample=True, seed=7, max_extra_length=2), recipe)
    assert method == "sample" and options == {"seed": 7, "max_extra_length": 2}


def test_load_run_refuses_an_export_naming_model(export, tmp_path):
    for path in (export, export / "1"):
        with pytest.raises(ModelPathError, match=rf"this is an export, not a run directory; pass it as --model "
                                                 rf"{re.escape(str(path))}$"):
            load_run(str(path))
    with pytest.raises(ModelPathError, match="not a run directory"):
        load_run(str(tmp_path / "nowhere"))
    with pytest.raises(ModelPathError, match="no recipe.yaml"):
        load_run(str(tmp_path))


def test_beam_row_uses_the_recipe_beam_unless_told_and_beam_1_is_greedy_only():
    assert [row[0] for row in decoding_rows(DecodingConfig(beam_size=5))] == ["greedy", "beam 5"]
    assert [row[0] for row in decoding_rows(DecodingConfig(beam_size=1))] == ["greedy", "beam 4"]
    assert [row[0] for row in decoding_rows(DecodingConfig(beam_size=5), beam_size=1)] == ["greedy"]
    assert decoding_rows(DecodingConfig(length_penalty=0.2), 3)[1][2]["length_penalty"] == 0.2
