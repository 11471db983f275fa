"""The serving export: loads without this package, translates like in-process decoding, uses only TF core and
TF Text ops, accepts TF Serving's request formats, and survives awkward inputs.

One tiny model is trained per session (`trained_run`, which ends by exporting version 1); one subprocess
(serving_client.py, with only tensorflow and tensorflow_text importable) answers every request below.
"""

import base64
import json
import os
import random
import site
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serving_client.py")
NON_UTF8 = [b"\xff\xfe\xfa", b"ab\xc3(cd", b"\xe2\x82", b"abc\x80"]


def _b64(values):
    return [base64.b64encode(v if isinstance(v, bytes) else v.encode("utf-8")).decode("ascii") for v in values]


def _inputs():
    """60 words of the task's letters (some over max_length=16, some with capitals and spaces)."""
    rng = random.Random(1)
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 9))) for _ in range(54)]
    return words + ["ABC", "a b  c", "j" * 20, "abcdefghij" * 3, "hij", "x"]


@pytest.fixture(scope="module")
def served(trained_run, tmp_path_factory):
    """Requests built here, answered by the export in a clean subprocess: (request, result) dicts."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from tf_transformer.run_dir import load_run

    run = load_run(trained_run["run_dir"])
    texts = _inputs()
    ids = run.source_tokenizer.tokenize(tf.constant(texts[:8])).to_tensor().numpy().tolist()
    predict = predict_pb2.PredictRequest()
    predict.model_spec.name = "spell_backwards"
    predict.model_spec.signature_name = "greedy"
    predict.inputs["text"].CopyFrom(tf.make_tensor_proto(texts[:5], dtype=tf.string))
    predict = predict_pb2.PredictRequest.FromString(predict.SerializeToString())  # as it arrives over gRPC
    long_text = "abcdefghij" * 50
    request = {
        "text": {"inputs": _b64(texts), "empty": _b64(["", "   ", "abc", ""]),
                 "mixed": _b64([long_text, "abc", "de"]), "short": _b64(["abc", "de"]),
                 "non_utf8": _b64(NON_UTF8), "zero": []},
        "ids": ids,
        "predict": {"signature_name": predict.model_spec.signature_name,
                    "text": base64.b64encode(predict.inputs["text"].SerializeToString()).decode("ascii")},
        "rest": {"rows": json.dumps({"instances": texts[:5]}),
                 "rows_named": json.dumps({"signature_name": "greedy", "instances": [{"text": t} for t in texts[:5]]}),
                 "columns": json.dumps({"inputs": {"text": texts[:5]}}),
                 "columns_b64": json.dumps({"signature_name": "greedy",
                                            "inputs": [{"b64": b} for b in _b64(texts[:5])]})},
    }
    directory = tmp_path_factory.mktemp("client")
    request_path, result_path = directory / "request.json", directory / "result.json"
    request_path.write_text(json.dumps(request), encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    completed = subprocess.run(
        [sys.executable, "-S", CLIENT, site.getsitepackages()[0], trained_run["export"], str(request_path),
         str(result_path)], cwd=str(directory), env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return {"run": run, "texts": texts, "request": request,
            "result": json.loads(result_path.read_text(encoding="utf-8"))}


def test_the_export_loads_where_this_package_cannot_be_imported(served):
    result, config = served["result"], served["run"].model.config
    assert result["tf_transformer_importable"] is False and result["modules"] == []
    assert result["signatures"] == {
        "serving_default": {"inputs": {"text": ["string", [None]]},
                            "outputs": {"translation": ["string", [None]], "score": ["float32", [None]]}},
        "greedy": {"inputs": {"text": ["string", [None]]},
                   "outputs": {"translation": ["string", [None]], "score": ["float32", [None]]}},
        "translate_ids": {"inputs": {"source_ids": ["int32", [None, None]]},
                          "outputs": {"target_ids": ["int32", [None, None]], "score": ["float32", [None]]}},
        "attention": {"inputs": {"text": ["string", [None]]},
                      "outputs": {"translation": ["string", [None]], "score": ["float32", [None]],
                                  "source_ids": ["int32", [None, None]], "target_ids": ["int32", [None, None]],
                                  "source_tokens": ["string", [None, None]],
                                  "output_tokens": ["string", [None, None]],
                                  "weights": ["float32", [None, config.decoder_layers, config.num_heads, None, None]]}},
    }


def test_the_attention_signature_takes_every_input_the_translation_signatures_take(served):
    config = served["run"].model.config
    for case, texts in served["request"]["text"].items():  # empty strings, over-long, invalid UTF-8, zero texts
        outputs = served["result"]["attention"][case]
        batch, source_width = outputs["source_ids"][1]
        _, target_width = outputs["target_ids"][1]
        assert batch == len(texts), case
        assert outputs["source_tokens"][1] == [batch, source_width] and outputs["output_tokens"][1] == [
            batch, target_width], case
        assert outputs["weights"][1][0] == batch and outputs["weights"][1][3:] == [target_width, source_width], case
        assert outputs["weights"][1][1:3] == [config.decoder_layers, config.num_heads], case


def test_served_translations_equal_in_process_decoding(served, trained_run):
    from tf_transformer.decoding import decoding_method
    from tf_transformer.translation import Translator

    run, texts = served["run"], served["texts"]
    recipe_method, recipe_options = decoding_method(run.recipe.decoding)
    assert recipe_method == "beam"  # the recipe asks for beam 3: serving_default must be beam search
    greedy = ("greedy", {"max_extra_length": recipe_options["max_extra_length"]})
    for signature, (method, options) in {"serving_default": (recipe_method, recipe_options), "greedy": greedy}.items():
        expected = Translator(run.model, run.source_tokenizer, run.target_tokenizer, method, **options).translate(texts)
        served_output = served["result"]["text"][signature]["inputs"]
        assert len(texts) >= 50
        assert served_output["translation"] == [text for text, _ in expected], signature
        np.testing.assert_allclose(served_output["score"], [score for _, score in expected], atol=1e-4)
    greedy = served["result"]["text"]["greedy"]["inputs"]["translation"]
    assert sum(bool(t) for t in greedy) > len(texts) // 2, "the trained model should produce something"


def test_translate_ids_gives_the_ids_the_text_signature_detokenizes(served):
    import tensorflow as tf

    run, result = served["run"], served["result"]
    target_ids = np.array(result["ids"]["target_ids"], np.int32).reshape(len(served["request"]["ids"]), -1)
    texts = run.target_tokenizer.detokenize(tf.constant(target_ids)).numpy()
    assert [t.decode("utf-8") for t in texts] == result["text"]["serving_default"]["inputs"]["translation"][:8]
    np.testing.assert_allclose(result["ids"]["score"], result["text"]["serving_default"]["inputs"]["score"][:8],
                               atol=1e-5)


def test_every_op_is_registered_by_tensorflow_core_or_tensorflow_text(served):
    audit = served["result"]["audit"]
    assert audit["offenders"] == [], f"ops the stock TF Serving binary lacks: {audit['offenders']}"
    assert "StatefulPartitionedCall" in audit["core"] or "PartitionedCall" in audit["core"]
    assert "While" in audit["core"] or "StatelessWhile" in audit["core"], "decoding must be one in-graph loop"


def test_predict_request_and_rest_bodies_give_the_same_result(served):
    result = served["result"]
    greedy = {name: values[:5] for name, values in result["text"]["greedy"]["inputs"].items()}
    beam = {name: values[:5] for name, values in result["text"]["serving_default"]["inputs"].items()}
    assert result["predict"]["translation"] == greedy["translation"]
    np.testing.assert_allclose(result["predict"]["score"], greedy["score"], atol=1e-5)  # batch of 5, not 60
    for name, expected in (("rows", beam), ("rows_named", greedy)):
        rows = result["rest"][name]["predictions"]
        assert [row["translation"] for row in rows] == expected["translation"], name
        np.testing.assert_allclose([row["score"] for row in rows], expected["score"], atol=1e-5)
    assert result["rest"]["columns"]["outputs"]["translation"] == beam["translation"]
    assert result["rest"]["columns_b64"]["outputs"]["translation"] == greedy["translation"]


@pytest.mark.parametrize("signature", ["serving_default", "greedy"])
def test_awkward_inputs_translate_without_crashing(served, signature):
    outputs = served["result"]["text"][signature]
    assert outputs["empty"]["translation"][0] == outputs["empty"]["translation"][3] == ""
    assert outputs["empty"]["score"][0] == 0.0 and outputs["empty"]["translation"][1] == ""
    mixed, short = outputs["mixed"], outputs["short"]
    assert mixed["translation"][1:] == short["translation"], "a very long neighbour changed the short rows"
    max_length = served["run"].model.config.max_length
    assert len(mixed["translation"][0].split()) <= max_length  # truncated to the model's positions, not crashed
    assert len(outputs["non_utf8"]["translation"]) == len(NON_UTF8)  # and each came back as valid UTF-8 (json)
    assert outputs["zero"] == {"translation": [], "score": []}


def test_vocabularies_travel_as_assets(trained_run):
    export, run_dir = trained_run["export"], trained_run["run_dir"]
    assets = sorted(os.listdir(os.path.join(export, "assets")))
    contents = {Path(export, "assets", name).read_bytes() for name in assets}
    for side in ("source", "target"):
        with open(os.path.join(run_dir, "vocab", side, "vocab.txt"), "rb") as file:
            assert file.read() in contents, f"{side} vocabulary missing from assets/ ({assets})"
    metadata = json.loads(Path(export, "assets.extra", "tf_transformer.json").read_text(encoding="utf-8"))
    assert metadata["decoding"]["beam_size"] == 3 and metadata["version"] == 1
