"""`tf-transformer export` with several --run-dir: one SavedModel that serves what the ensemble decodes in process,
with every signature but `attention`, and that the one-model tools (tflite, attention) refuse in one line."""

import json
import shutil

import numpy as np
import pytest

from tf_transformer.cli import main

WORDS = ["abc", "jihgf", "a", "bbbbdddd", "hij", "cafe", "abcdefghij", ""]


@pytest.fixture(scope="module")
def runs_and_export(trained_run, tmp_path_factory):
    """(run directories, the ensemble's export version directory): the trained run and a copy whose weights are
    scaled, so that the two members disagree."""
    from tf_transformer.run_dir import load_run

    root = tmp_path_factory.mktemp("ensemble_export")
    other = root / "other_run"
    shutil.copytree(trained_run["run_dir"], other)
    model = load_run(str(other)).model
    for variable in model.trainable_variables:
        variable.assign(variable * 0.8)
    model.save(str(other / "model.keras"))
    run_dirs = [trained_run["run_dir"], str(other)]
    assert main(["export", "--run-dir", run_dirs[0], "--run-dir", run_dirs[1], "--directory", str(root / "models"),
                 "--name", "both"]) == 0
    return run_dirs, str(root / "models" / "both" / "1")


def test_the_export_serves_what_the_ensemble_decodes_in_process(runs_and_export):
    import tensorflow as tf

    from tf_transformer.decoding import decoding_method
    from tf_transformer.ensemble import load_ensemble
    from tf_transformer.run_dir import load_run
    from tf_transformer.translation import Translator

    run_dirs, export = runs_and_export
    loaded = tf.saved_model.load(export)
    assert sorted(loaded.signatures) == ["greedy", "serving_default", "translate_ids"]
    ensemble, alone = load_ensemble(run_dirs), load_run(run_dirs[0])
    decodings = {"serving_default": decoding_method(ensemble.recipe.decoding), "greedy": ("greedy", {})}
    for signature, (method, options) in decodings.items():
        options = {**options, "max_extra_length": ensemble.recipe.decoding.max_extra_length}
        expected = Translator(ensemble.model, ensemble.source_tokenizer, ensemble.target_tokenizer, method,
                              **options).translate(WORDS)
        served = loaded.signatures[signature](text=tf.constant(WORDS))
        assert [text.decode("utf-8") for text in served["translation"].numpy()] == [text for text, _ in expected]
        np.testing.assert_allclose(served["score"].numpy(), [score for _, score in expected], atol=1e-4)
        first_alone = Translator(alone.model, alone.source_tokenizer, alone.target_tokenizer, method,
                                 **options).translate(WORDS)
        assert not np.allclose([score for _, score in first_alone], [score for _, score in expected], atol=1e-3)
    with open(f"{export}/assets.extra/tf_transformer.json", encoding="utf-8") as file:
        facts = json.load(file)
    assert len(facts["ensemble"]) == 2 and "attention" not in facts["signatures"]


def test_one_model_tools_refuse_the_ensemble_export_in_one_line(runs_and_export, capsys):
    _, export = runs_and_export
    for argv, expected in ((["tflite", "--model", export], "ensemble of 2 runs"),
                           (["attention", "--model", export, "abc"], "attention draws one model's")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and expected in err, err
