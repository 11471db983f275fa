"""The TFLite export: the whole translator (tokenize ─► encode ─► cached search ─► detokenize) in one .tflite file.

    content, ops = convert_translator(model, source_tokenizer, target_tokenizer, "greedy", {}, quantize="dynamic")
    path, ops = export_tflite(run_dir="runs/g2p_tiny", quantize="dynamic")   # what `tf-transformer tflite` runs

The file has one signature, `serving_default`:
    text tf.string [B] -> translation tf.string [B], score float32 [B]         (the default)
    source_ids int32 [B, S] -> target_ids int32 [B, T], score float32 [B]      (ids_only: for apps that tokenize)
B is any batch size, 0 included. The search is the package's `tf.while_loop` over a static KV cache
(tf_transformer/decoding/), so it stops at [END] like the SavedModel, and gives its `greedy` (or, with "beam",
its `serving_default`) translations and scores. The text variant tokenizes with tf_transformer/text/portable.py.

Ops: TFLite builtins plus tensorflow-text's TFLite custom ops ("TFText>ByteSplitWithOffsets",
"FastWordpieceTokenizeWithOffsets", ...), never Flex (SELECT_TF_OPS); the ids-only file is builtins only. An op
outside that set is a `ConfigError` naming it. Quantization: "dynamic" stores the weights as int8 (dynamic-range
quantization), "float16" as float16.
"""

import json
import os
import tempfile

import flatbuffers
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
from ai_edge_litert import interpreter
from ai_edge_litert import schema_py_generated as schema
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from tf_transformer.config import UNK_ID
from tf_transformer.decoding import decoding_method, make_decode_fn
from tf_transformer.errors import ConfigError, ModelPathError
from tf_transformer.export import DECODINGS, QUANTIZATIONS  # defined there: the CLI's parser reads them
from tf_transformer.export.saved_model import load_export_parts
from tf_transformer.run_dir import load_run
from tf_transformer.text.portable import portable_tokenizer

METADATA_NAME = "tf_transformer"


class TFLiteTranslator(tf.Module):
    """The functions converted to TFLite: the model, its decoding and the portable tokenizers.

    Args:
        model: a built `Transformer`.
        source_tokenizer, target_tokenizer: its `Tokenizer`s (unused, and may be None, for `translate_ids`).
        method, options: the decoding (`make_decode_fn`), e.g. "greedy", {"max_extra_length": 50}.
    """

    def __init__(self, model, source_tokenizer, target_tokenizer, method="greedy", options=None):
        super().__init__(name="tflite_translator")
        self._max_length = int(model.config.max_length)
        self._source_vocab_size = int(model.config.source_vocab_size)
        num_tokens = None if target_tokenizer is None else target_tokenizer.num_tokens  # never an id past it
        self._decode = make_decode_fn(model, method, num_tokens=num_tokens, **(options or {}))
        self._tokenizers = None
        if source_tokenizer is not None:
            self._tokenizers = (portable_tokenizer(source_tokenizer, "source"),
                                portable_tokenizer(target_tokenizer, "target"))

    def translate(self, text):
        """text tf.string [B] -> {"translation": tf.string [B], "score": float32 [B]}."""
        source, target = self._tokenizers
        target_ids, scores = self._decode(source.tokenize(text, self._max_length))
        return {"translation": target.detokenize(target_ids, self._max_length), "score": scores}

    def translate_ids(self, source_ids):
        """source_ids int32 [B, S] (0-padded) -> {"target_ids": int32 [B, T], "score": float32 [B]}, as the
        SavedModel's `translate_ids` (ids outside the source vocabulary become [UNK])."""
        known = (source_ids >= 0) & (source_ids < self._source_vocab_size)
        target_ids, scores = self._decode(tf.where(known, source_ids, UNK_ID))
        return {"target_ids": target_ids, "score": scores}

    def concrete_function(self, ids_only=False):
        """The traced signature function: `translate` on text [None], or `translate_ids` on int32 [None, None]."""
        if ids_only:
            spec = tf.TensorSpec([None, None], tf.int32, name="source_ids")
            return tf.function(self.translate_ids, input_signature=[spec]).get_concrete_function()
        spec = tf.TensorSpec([None], tf.string, name="text")
        return tf.function(self.translate, input_signature=[spec]).get_concrete_function()


def decoding_for(decoding, method):
    """(method, options) of `make_decode_fn` for `--decoding greedy|beam` and the recipe's `DecodingConfig`."""
    if method not in DECODINGS:
        raise ConfigError(f"--decoding {method!r} is unknown; choose one of {', '.join(DECODINGS)}")
    if method == "greedy":
        return "greedy", {"max_extra_length": decoding.max_extra_length}
    if decoding.beam_size < 2:
        raise ConfigError("--decoding beam needs a beam: the recipe's decoding.beam_size is 1; set it (e.g. "
                          "--set decoding.beam_size=4 when training) or use --decoding greedy")
    return decoding_method(decoding)


def convert_translator(model, source_tokenizer, target_tokenizer, method="greedy", options=None, quantize="none",
                       ids_only=False):
    """The .tflite bytes of a `TFLiteTranslator` and the sorted names of the ops it uses.

    Raises:
        ConfigError: an unknown quantization, a tokenizer TFLite cannot run, or an op outside TFLite builtins
            and tensorflow-text's custom ops (named).
    """
    if quantize not in QUANTIZATIONS:
        raise ConfigError(f"--quantize {quantize!r} is unknown; choose one of {', '.join(QUANTIZATIONS)}")
    module = TFLiteTranslator(model, None if ids_only else source_tokenizer, target_tokenizer, method, options)
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [named_outputs(module.concrete_function(ids_only))], tf.Module())  # the Module keeps the signature
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # never SELECT_TF_OPS (Flex)
    converter.allow_custom_ops = not ids_only  # tensorflow-text's ops; anything else is refused below
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    try:
        content = converter.convert()
    except Exception as error:  # the converter raises ConverterError, ValueError, ... with pages of MLIR text
        raise ConfigError(f"TFLite conversion failed: {_first_line(error)}") from None
    ops = model_ops(content)
    check_ops(content, ops, ids_only)
    return content, ops


def frozen_function(concrete):
    """`concrete` with its variables turned into constants.

    TFLite cannot read resource variables inside a while loop (the search), and the public converter API does
    not freeze them there, so this uses TensorFlow's own (private) freezing function, isolated here.
    """
    return convert_variables_to_constants_v2(concrete, lower_control_flow=False)


def named_outputs(concrete):
    """The frozen `concrete` (see `frozen_function`) traced again so that its outputs keep their names (freezing
    leaves a flat list, which the converter would name output_0, output_1, ...)."""
    frozen = frozen_function(concrete)
    names = sorted(concrete.structured_outputs)  # the flat order of a dict's values
    (spec,) = concrete.structured_input_signature[0]
    function = tf.function(lambda tensor: dict(zip(names, frozen(tensor))), input_signature=[spec])
    return function.get_concrete_function()


def model_ops(content):
    """Sorted names of every operator a .tflite flatbuffer uses (all subgraphs): builtin names as in the TFLite
    schema ("FULLY_CONNECTED", "WHILE"), custom ops by their custom code ("TFText>ByteSplit")."""
    model = schema.Model.GetRootAs(content, 0)
    names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    ops = set()
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            ops.add(code.CustomCode().decode("utf-8"))
        else:
            ops.add(names.get(builtin, str(builtin)))
    return sorted(ops)


def custom_ops(ops):
    """The custom (non-builtin) op names among `model_ops` names: the ones an app must register."""
    builtins = {name for name in vars(schema.BuiltinOperator) if not name.startswith("_")}
    return [name for name in ops if name not in builtins]


def check_ops(content, ops, ids_only=False):
    """Raise ConfigError naming the first op that is neither a TFLite builtin nor (text variant) one of
    tensorflow-text's TFLite kernels: a Flex op, or a TensorFlow op the converter left as a custom op. The test
    is LiteRT itself: the file must load with tensorflow-text's op registrar and nothing else."""
    custom = custom_ops(ops)
    flex = [name for name in custom if name.startswith("Flex")]
    if flex or (ids_only and custom):
        raise ConfigError(f"the model needs the op {(flex or custom)[0]!r}, which is not a TFLite builtin "
                          f"{'' if ids_only else '(Flex is not allowed)'}; please report it")
    if custom:
        try:
            interpreter.InterpreterWithCustomOps(model_content=content,
                                                 custom_op_registerers=tf_text.tflite_registrar.SELECT_TFTEXT_OPS)
        except (ValueError, RuntimeError) as error:
            unresolved = [name for name in custom if name in str(error)]
            raise ConfigError(f"the model needs the op {(unresolved or custom)[0]!r}, which is neither a TFLite "
                              "builtin nor a tensorflow-text TFLite kernel (Flex is not allowed); please "
                              "report it") from None


def export_tflite(run_dir=None, model_path=None, output=None, quantize="none", decoding="greedy", ids_only=False):
    """Convert a run directory's model or an export to a .tflite file; returns (path, ops).

    Args:
        run_dir: a `tf-transformer train` run directory; or
        model_path: an export, saved_models/NAME (its latest version) or one version directory.
        output: the file to write (default <export directory>/NAME[-beam][-ids][-QUANTIZE].tflite); written
            atomically, replacing an older file.
        quantize, decoding, ids_only: see `convert_translator` and `decoding_for`.

    The file carries `METADATA_NAME` metadata (`read_metadata`): the recipe, decoding and tokenizer kinds that
    `translate --tflite` and `evaluate --tflite` read.
    """
    if (run_dir is None) == (model_path is None):
        raise ConfigError("give exactly one of --run-dir DIR or --model saved_models/NAME")
    if run_dir is not None:
        run = load_run(run_dir)
        model, source_tokenizer, target_tokenizer, recipe = (run.model, run.source_tokenizer,
                                                             run.target_tokenizer, run.recipe)
        recipe_decoding, name, directory = recipe.decoding, recipe.export.name or recipe.name, recipe.export.directory
    else:
        parts = load_export_parts(model_path)
        model, source_tokenizer, target_tokenizer, recipe = (parts.model, parts.source_tokenizer,
                                                             parts.target_tokenizer, parts.recipe)
        recipe_decoding, name = parts.decoding, parts.name
        directory = os.path.dirname(_model_dir(model_path))
    method, options = decoding_for(recipe_decoding, decoding)
    suffix = "".join(["-beam" if decoding == "beam" else "", "-ids" if ids_only else "",
                      "" if quantize == "none" else f"-{quantize}"])
    output = output or os.path.join(directory or ".", f"{name}{suffix}.tflite")
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise ModelPathError(f"{output}: the directory {parent} does not exist; create it or pick another --output")
    content, ops = convert_translator(model, source_tokenizer, target_tokenizer, method, options, quantize,
                                      ids_only)
    facts = {"name": name, "decoding": method, "options": options, "quantize": quantize, "ids_only": ids_only,
             "model": model.config.to_dict(), "custom_ops": custom_ops(ops),
             "source_tokenizer": source_tokenizer.kind, "target_tokenizer": target_tokenizer.kind,
             "recipe": recipe.to_dict() if recipe is not None else None}
    content = with_metadata(content, facts)
    handle, temporary = tempfile.mkstemp(dir=parent, prefix=".tflite-", suffix=".tmp")
    with os.fdopen(handle, "wb") as file:
        file.write(content)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would keep the file from other users
    os.replace(temporary, output)
    return output, ops


def with_metadata(content, facts):
    """The .tflite bytes `content` with `facts` (JSON) added as the flatbuffer metadata entry METADATA_NAME."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(facts).encode("utf-8"), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
    model.metadata = (model.metadata or []) + [entry]
    builder = flatbuffers.Builder(len(content) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def read_metadata(content):
    """The METADATA_NAME facts of .tflite bytes (a dict), or None for a file this package did not write."""
    model = schema.Model.GetRootAs(content, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() == METADATA_NAME.encode("utf-8"):
            return json.loads(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode("utf-8"))
    return None


def _model_dir(model_path):
    """saved_models/NAME for saved_models/NAME or saved_models/NAME/VERSION."""
    path = os.path.normpath(str(model_path))
    return os.path.dirname(path) if os.path.basename(path).isdigit() else path


def _first_line(error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__

