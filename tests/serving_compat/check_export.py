"""Load make_export.py's exports where only TensorFlow and TensorFlow Text exist and compare every signature.

    .venv-serving/bin/python -I tests/serving_compat/check_export.py build/serving-compat --expect-tensorflow 2.20.0

`make serving-compat` runs this in a virtualenv holding only tensorflow==2.20.0 and tensorflow-text==2.20.0 (the
runtime TF Serving 2.20 embeds), isolated (-I: no PYTHONPATH, no script directory, no user site), so this package
cannot be imported. It imports nothing but the standard library, tensorflow and tensorflow_text.

For each model in `<dir>/reference.json` it checks that every op of saved_model.pb is registered by TensorFlow
core or TensorFlow Text here, that `tf.saved_model.load` loads the export, that the signatures are there with
their inputs, and that each signature's outputs equal what the trained Keras model decoded in-process under
TensorFlow 2.21: ids bit for bit, strings exactly, scores and attention weights within SCORE_TOLERANCE /
WEIGHT_TOLERANCE (the largest difference is printed). Any mismatch is printed as one line naming the model,
signature, output and row, with the in-process value and what the export gives under 2.21; the exit status is 1.
"""

import argparse
import importlib.util
import json
import os
import sys
import time

PAD_ID, END_ID = 0, 3
SCORE_TOLERANCE = 1e-4      # what tests/export/test_saved_model.py allows between the export and in-process
WEIGHT_TOLERANCE = 1e-5
PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}  # registered by core, but need a Python interpreter


def audit_ops(path):
    """(op types of saved_model.pb's graph and function library, those of them that neither TensorFlow core nor
    TensorFlow Text registers in this process); calls of library functions are not ops."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.framework import op_def_registry

    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as file:
        saved_model.ParseFromString(file.read())
    ops, functions = set(), set()
    for graph in saved_model.meta_graphs:
        ops.update(node.op for node in graph.graph_def.node)
        for function in graph.graph_def.library.function:
            functions.add(function.signature.name)
            ops.update(node.op for node in function.node_def)
    ops -= functions
    return sorted(ops), sorted(op for op in ops if op in PYTHON_OPS or op_def_registry.get(op) is None)


def _flat(value):
    """A nested list as (shape, flat list)."""
    shape = []
    probe = value
    while isinstance(probe, list):
        shape.append(len(probe))
        probe = probe[0] if probe else None
    flat = value
    for _ in range(len(shape) - 1):
        flat = [item for row in flat for item in row]
    return shape, flat


def _attention_mask(source_ids, target_ids, layers, heads):
    """Flat booleans over weights [B, layers, heads, T, S]: True where row t is an output token (up to and
    including [END]) and column s a source token; the other positions are padding (garbage by contract)."""
    mask = []
    for source, target in zip(source_ids, target_ids):
        length = target.index(END_ID) + 1 if END_ID in target else sum(token != PAD_ID for token in target)
        cells = [t < length and s != PAD_ID for t in range(len(target)) for s in source]
        mask.extend(cells * (layers * heads))
    return mask


class Comparison:
    """Collects mismatches (one line each) and the largest float differences of one model."""

    def __init__(self, model, made_with):
        import tensorflow as tf

        self.model, self.mismatches, self.largest = model, [], {}
        self.here, self.made_with = f"under TensorFlow {tf.__version__}", made_with

    def exact(self, signature, name, got, expected, old):
        if got == expected:
            return
        if got is None:
            self.mismatches.append(f"{self.model['name']}/{signature}: no output {name!r}")
            return
        got_shape, got_flat = _flat(got)
        expected_shape, expected_flat = _flat(expected)
        where = f"{self.model['name']}/{signature}: {name}"
        if got_shape != expected_shape:
            self.mismatches.append(f"{where} has shape {got_shape} {self.here}, in-process "
                                   f"{expected_shape}")
            return
        index = next(i for i, (a, b) in enumerate(zip(got_flat, expected_flat)) if a != b)
        row = index // max(1, len(got_flat) // max(1, got_shape[0]))
        old_row = old[row] if old is not None and row < len(old) else "?"
        self.mismatches.append(f"{where}[{row}] is {got[row]!r} {self.here}, in-process {expected[row]!r} "
                               f"(the export under TensorFlow {self.made_with} gives {old_row!r})")

    def close(self, signature, name, got, expected, tolerance, mask=None):
        where = f"{self.model['name']}/{signature}: {name}"
        got_shape, got_flat = _flat(got)
        expected_shape, expected_flat = _flat(expected)
        if got_shape != expected_shape:
            self.mismatches.append(f"{where} has shape {got_shape} {self.here}, in-process "
                                   f"{expected_shape}")
            return
        mask = mask or [True] * len(got_flat)
        differences = [abs(a - b) for a, b, keep in zip(got_flat, expected_flat, mask) if keep]
        largest = max(differences, default=0.0)
        self.largest[f"{signature}.{name}"] = largest
        if not largest <= tolerance:  # also catches NaN
            self.mismatches.append(f"{where} differs from in-process by up to {largest:.3g} {self.here} "
                                   f"(allowed {tolerance:g})")


def _call(function, feed):
    import tensorflow as tf

    arguments = {name: tf.constant(value, tf.int32 if name == "source_ids" else tf.string)
                 for name, value in feed.items()}
    started = time.perf_counter()
    outputs = function(**arguments)
    seconds = time.perf_counter() - started
    return {name: ([item.decode("utf-8") for item in tensor.numpy().tolist()] if tensor.dtype == tf.string
                   else tensor.numpy().tolist())
            for name, tensor in outputs.items() if name not in ("source_tokens", "output_tokens")}, seconds


def check_model(root, model, made_with):
    """(mismatch lines, report lines) for one model of reference.json, exported under TensorFlow `made_with`."""
    import tensorflow as tf

    path = os.path.join(root, model["export"])
    comparison = Comparison(model, made_with)
    ops, offenders = audit_ops(path)
    if offenders:
        return [f"{model['name']}: ops not registered by TensorFlow {tf.__version__} core or TensorFlow Text: "
                f"{', '.join(offenders)}"], []
    started = time.perf_counter()
    try:
        loaded = tf.saved_model.load(path)
    except Exception as error:  # noqa: BLE001  (any load failure is the finding)
        return [f"{model['name']}: tf.saved_model.load({path}) failed under TensorFlow {tf.__version__}: "
                f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"], []
    report = [f"{model['name']} ({model['tokenizers']}, beam {model['decoding']['beam_size']}): loaded "
              f"{model['export']} in {time.perf_counter() - started:.1f} s; all {len(ops)} op types registered here"]
    for signature, feed in model["inputs"].items():
        if signature not in loaded.signatures:
            comparison.mismatches.append(f"{model['name']}: no signature {signature!r} (has "
                                         f"{', '.join(sorted(loaded.signatures))})")
            continue
        got, seconds = _call(loaded.signatures[signature], feed)
        expected, old = model["expected"][signature], model["export_where_made"][signature]
        before = len(comparison.mismatches)
        for name in ("translation", "target_ids", "source_ids"):
            if name in expected:
                comparison.exact(signature, name, got.get(name), expected[name], old.get(name))
        if "score" not in got:
            comparison.mismatches.append(f"{model['name']}/{signature}: no output 'score'")
            continue
        comparison.close(signature, "score", got["score"], expected["score"], SCORE_TOLERANCE)
        if "weights" in expected and got.get("target_ids") == expected["target_ids"]:
            _, layers, heads, _, _ = _flat(expected["weights"])[0]
            mask = _attention_mask(expected["source_ids"], expected["target_ids"], layers, heads)
            comparison.close(signature, "weights", got["weights"], expected["weights"], WEIGHT_TOLERANCE, mask)
        same_as_where_made = all(got[name] == old.get(name) for name in got)
        status = "ok" if len(comparison.mismatches) == before else "MISMATCH"
        ids = "ids bit-exact" if any(name.endswith("_ids") for name in expected) else "strings identical"
        largest = max(value for key, value in comparison.largest.items() if key.startswith(signature + "."))
        report.append(f"  {signature:<16} {status:<8} {len(feed[next(iter(feed))])} inputs, {ids}, largest float "
                      f"difference {largest:.2g}; {'bit-identical to' if same_as_where_made else 'differs from'} the "
                      f"export under {made_with}; {seconds * 1000:.0f} ms first call")
    return comparison.mismatches, report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="make_export.py's output directory (holds reference.json)")
    parser.add_argument("--expect-tensorflow", help="fail unless TensorFlow and TensorFlow Text are this version "
                        "(2.20.0) or a release of it (2.20)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import tensorflow as tf
    import tensorflow_text

    if importlib.util.find_spec("tf_transformer") is not None:
        sys.exit("error: tf_transformer is importable here; run this in a virtualenv without it, with python -I")
    versions = f"TensorFlow {tf.__version__}, TensorFlow Text {tensorflow_text.__version__}"
    expected = args.expect_tensorflow
    if expected and not all(version == expected or version.startswith(expected + ".")
                            for version in (tf.__version__, tensorflow_text.__version__)):
        sys.exit(f"error: expected TensorFlow and TensorFlow Text {expected}, this is {versions} ({sys.executable}); "
                 "delete the virtualenv and run `make serving-compat` again")
    with open(os.path.join(args.directory, "reference.json"), encoding="utf-8") as file:
        reference = json.load(file)
    print(f"checking exports of TensorFlow {reference['tensorflow']} under {versions} ({sys.executable}); "
          "tf_transformer not importable")
    mismatches = []
    for model in reference["models"]:
        found, report = check_model(args.directory, model, reference["tensorflow"])
        print("\n".join(report))
        mismatches.extend(found)
    if mismatches:
        print("\n".join(f"error: {line}" for line in mismatches), file=sys.stderr)
        sys.exit(1)
    print(f"serving-compat: every signature of {len(reference['models'])} exports matches in-process decoding "
          f"under {versions}")


if __name__ == "__main__":
    main()
