"""`training.mixed_precision`: float16 (with loss scaling) and bfloat16 train the copy task on a CPU, the loss falls
and stays finite, and the export of such a run computes in float32 and serves what in-process decoding gives."""

import csv
import random

import numpy as np
import pytest

from tf_transformer.config import MIXED_PRECISION, TrainingConfig
from tf_transformer.errors import ConfigError

EPOCHS, STEPS = 4, 25


def _copy_recipe(tmp_path, policy):
    """Copy the letters: source "abc" (characters) -> target "a b c" (whitespace tokens)."""
    from tf_transformer.config import Recipe, from_dict

    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefgh") for _ in range(rng.randint(1, 6))) for _ in range(500)]
    corpus = tmp_path / "copy.tsv"
    corpus.write_text("".join(f"{word}\t{' '.join(word)}\n" for word in words), encoding="utf-8")
    return from_dict(Recipe, {
        "name": f"copy_{policy}",
        "data": {"corpus": "tsv", "path": str(corpus), "tokens_per_batch": 256, "max_source_length": 8,
                 "max_target_length": 8},
        "source_tokenizer": {"kind": "char", "vocab_size": None},
        "target_tokenizer": {"kind": "whitespace", "vocab_size": None},
        "model": {"preset": "tiny", "d_model": 32, "d_ff": 64, "num_layers": 1, "num_heads": 2, "max_length": 12,
                  "dropout": 0.0},
        "training": {"epochs": EPOCHS, "steps_per_epoch": STEPS, "warmup_steps": 40, "learning_rate_scale": 1.0,
                     "mixed_precision": policy, "evaluate_every_epochs": 0, "backup_every_steps": 1000},
        "decoding": {"beam_size": 3, "max_extra_length": 3},
        "export": {"directory": str(tmp_path / "saved_models")},
    }), words


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["float16", "bfloat16"])
def test_mixed_precision_trains_and_its_export_serves_float32_like_in_process_decoding(tmp_path, policy):
    import keras
    import tensorflow as tf

    from tf_transformer.decoding import decoding_method
    from tf_transformer.run_dir import load_run
    from tf_transformer.trainer import train
    from tf_transformer.translation import Translator

    recipe, words = _copy_recipe(tmp_path, policy)
    summary = train(recipe, str(tmp_path / "run"), verbose=False)
    assert keras.mixed_precision.global_policy().name == "float32"  # training leaves the global policy as it was
    with open(tmp_path / "run" / "history.csv", encoding="utf-8") as file:
        losses = [float(row["loss"]) for row in csv.DictReader(file)]
    assert len(losses) == EPOCHS, "TerminateOnNaN stopped the run: a loss was NaN or inf"
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0], losses

    run = load_run(str(tmp_path / "run"))
    assert run.model.compute_dtype == "float32"  # inference computes in float32 whatever the training policy
    served = tf.saved_model.load(summary["export"])
    texts = words[:40]
    recipe_decoding = decoding_method(run.recipe.decoding)
    for signature, (method, options) in {"serving_default": recipe_decoding,
                                         "greedy": ("greedy", {"max_extra_length": 3})}.items():
        outputs = served.signatures[signature](text=tf.constant(texts))
        assert outputs["score"].dtype == tf.float32, signature
        expected = Translator(run.model, run.source_tokenizer, run.target_tokenizer, method, **options).translate(
            texts)
        assert [t.decode("utf-8") for t in outputs["translation"].numpy()] == [t for t, _ in expected], signature
        np.testing.assert_allclose(outputs["score"].numpy(), [s for _, s in expected], atol=1e-4)


@pytest.mark.parametrize("name, keras_policy", [(None, "float32"), ("none", "float32"), ("float16", "mixed_float16"),
                                                ("bfloat16", "mixed_bfloat16"), ("mixed_float16", "mixed_float16"),
                                                ("auto", "auto")])
def test_policy_names_accept_the_recipe_and_keras_spellings(name, keras_policy):
    assert MIXED_PRECISION[name] == keras_policy
    assert TrainingConfig(mixed_precision=name).mixed_precision == name


def test_an_unknown_policy_is_a_one_line_config_error():
    with pytest.raises(ConfigError,
                       match="training.mixed_precision: expected none, float16, bfloat16 or auto, got 'fp16'"):
        TrainingConfig(mixed_precision="fp16")
