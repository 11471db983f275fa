"""Stand-in for TF Serving: loads an export in a process that imports only tensorflow and tensorflow_text.

Run as a script with a clean sys.path (tests/export/test_saved_model.py does), never imported by the tests:

    python -S serving_client.py SITE_PACKAGES SAVED_MODEL_DIR REQUEST.json RESULT.json

It records whether `tf_transformer` is importable here, audits the ops of saved_model.pb (TensorFlow core,
TensorFlow Text, or offenders), runs the requests of REQUEST.json through the signatures (direct calls, the input
TensorProto of a serialized PredictRequest, REST bodies in the row and columnar formats, converted as TF Serving
converts them) and writes what came out to RESULT.json.
"""

import base64
import json
import os
import sys

sys.path.append(sys.argv[1])  # site-packages, without its .pth files: the editable tf_transformer stays out

import tensorflow as tf  # noqa: E402
from tensorflow.core.framework import tensor_pb2  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402
from tensorflow.python.framework import op_def_registry  # noqa: E402

PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}  # registered by core, but need a Python interpreter


def graph_ops(path):
    """Every op type in the graph and the function library of saved_model.pb."""
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as file:
        saved_model.ParseFromString(file.read())
    ops = set()
    for graph in saved_model.meta_graphs:
        ops.update(node.op for node in graph.graph_def.node)
        for function in graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


def audit(path):
    """{"core": [...], "text": [...], "offenders": [...]}: which library registers each op of the export."""
    ops = graph_ops(path)
    function_names = set()
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as file:
        saved_model.ParseFromString(file.read())
    for graph in saved_model.meta_graphs:
        function_names.update(f.signature.name for f in graph.graph_def.library.function)
    ops -= function_names  # calls of library functions, not ops
    core = {op for op in ops if op_def_registry.get(op) is not None and op not in PYTHON_OPS}
    import tensorflow_text  # noqa: F401  (registers its ops; what the serving binary links besides core)

    text = {op for op in ops - core if op_def_registry.get(op) is not None and op not in PYTHON_OPS}
    return {"core": sorted(core), "text": sorted(text), "offenders": sorted(ops - core - text)}


def strings(values):
    return [base64.b64decode(value) for value in values]


def plain(outputs):
    """Signature outputs as JSON: strings as text (they must be valid UTF-8), numbers as lists."""
    result = {}
    for name, value in outputs.items():
        value = value.numpy()
        result[name] = ([item.decode("utf-8") for item in value.tolist()] if value.dtype == object
                        else value.tolist())
    return result


def rest(signatures, body):
    """What TF Serving's REST API answers for a JSON `body` (row: instances, columnar: inputs)."""
    body = json.loads(body)
    function = signatures[body.get("signature_name", "serving_default")]
    names = list(function.structured_input_signature[1])

    def value(item):
        return base64.b64decode(item["b64"]) if isinstance(item, dict) and "b64" in item else item

    if "instances" in body:
        rows = body["instances"]
        if rows and isinstance(rows[0], dict) and "b64" not in rows[0]:
            inputs = {name: [value(row[name]) for row in rows] for name in names}
        else:  # one named input: a list of its values
            inputs = {names[0]: [value(row) for row in rows]}
    else:
        columns = body["inputs"]
        inputs = columns if isinstance(columns, dict) else {names[0]: columns}
        inputs = {name: [value(item) for item in column] for name, column in inputs.items()}
    specs = function.structured_input_signature[1]
    outputs = plain(function(**{name: tf.constant(column, specs[name].dtype) for name, column in inputs.items()}))
    if "instances" in body:
        count = len(next(iter(outputs.values())))
        return {"predictions": [{name: column[i] for name, column in outputs.items()} for i in range(count)]}
    return {"outputs": outputs}


def main():
    _, _, path, request_path, result_path = sys.argv
    with open(request_path, encoding="utf-8") as file:
        request = json.load(file)
    result = {"audit": audit(path)}
    try:
        import tf_transformer  # noqa: F401

        result["tf_transformer_importable"] = True
    except ImportError:
        result["tf_transformer_importable"] = False
    module = tf.saved_model.load(path)
    signatures = module.signatures
    result["signatures"] = {
        name: {"inputs": {k: [v.dtype.name, v.shape.as_list()] for k, v in f.structured_input_signature[1].items()},
               "outputs": {k: [v.dtype.name, v.shape.as_list()] for k, v in f.structured_outputs.items()}}
        for name, f in signatures.items()}
    result["text"] = {name: {case: plain(signatures[name](text=tf.constant(strings(texts), tf.string)))
                             for case, texts in request["text"].items()}
                      for name in ("serving_default", "greedy")}
    result["attention"] = {case: {name: [value.dtype.name, value.shape.as_list()] for name, value in
                                  signatures["attention"](text=tf.constant(strings(texts), tf.string)).items()}
                           for case, texts in request["text"].items()}
    result["ids"] = plain(signatures["translate_ids"](source_ids=tf.constant(request["ids"], tf.int32)))
    proto = tensor_pb2.TensorProto.FromString(base64.b64decode(request["predict"]["text"]))
    signature = signatures[request["predict"]["signature_name"]]
    result["predict"] = plain(signature(text=tf.constant(tf.make_ndarray(proto))))
    result["rest"] = {name: rest(signatures, body) for name, body in request["rest"].items()}
    result["modules"] = sorted(name for name in sys.modules if name.split(".")[0] == "tf_transformer")
    with open(result_path, "w", encoding="utf-8") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main()
