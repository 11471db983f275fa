"""Running a .tflite translator on LiteRT (`ai_edge_litert`), as an app would: what `translate --tflite` and
`evaluate --tflite` use (through `tf_transformer.translators`).

    translator = LiteRTTranslator("saved_models/g2p_tiny.tflite")
    translator.translate_batch(["hello", "world"])     # [("HH AH0 L OW1", -0.52), ...]

tensorflow-text's TFLite kernels are registered with the interpreter (`tflite_registrar.SELECT_TFTEXT_OPS`),
the Python form of what an Android or iOS app registers (see the README's "On phones").
"""

import os

import numpy as np
import tensorflow_text as tf_text
from ai_edge_litert import interpreter

from tf_transformer.errors import ModelPathError
from tf_transformer.export.tflite import read_metadata


class LiteRTTranslator:
    """The `serving_default` signature of a .tflite file from `tf-transformer tflite`.

    Args:
        path: the .tflite file (text in, text out; an --ids-only file runs with `translate_ids`).
        num_threads: interpreter threads (default: all cores).

    Attributes:
        ids_only: whether the file takes source_ids instead of text.
        facts: the metadata `tf-transformer tflite` wrote into the file (`tflite.read_metadata`): name, decoding,
            options, quantize, model config, recipe, ...; {} for a file from elsewhere.
        beam_size: the beam size the file decodes with, from `facts` (1: greedy, also for a file from elsewhere).
    """

    n_best = 1
    jit_compile = False  # the TFLite graph

    def __init__(self, path, num_threads=None):
        if not os.path.isfile(path):
            raise ModelPathError(f"{path}: no such .tflite file; write one with `tf-transformer tflite`")
        with open(path, "rb") as file:
            content = file.read()
        try:
            self.facts = read_metadata(content) or {}
        except Exception:  # not a flatbuffer at all: LiteRT says so below  # noqa: BLE001
            self.facts = {}
        try:
            self.interpreter = interpreter.InterpreterWithCustomOps(
                model_content=content, custom_op_registerers=tf_text.tflite_registrar.SELECT_TFTEXT_OPS,
                num_threads=num_threads or os.cpu_count())
            self.runner = self.interpreter.get_signature_runner("serving_default")
        except (ValueError, RuntimeError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ModelPathError(f"{path}: LiteRT cannot load it ({first}); convert it again with "
                                 "`tf-transformer tflite`") from None
        inputs = self.interpreter.get_signature_list()["serving_default"]["inputs"]
        self.ids_only = inputs == ["source_ids"]

    @property
    def beam_size(self):
        return int(self.facts.get("options", {}).get("beam_size", 1)) if self.facts.get("decoding") == "beam" else 1

    def translate_batch(self, texts):
        """list of str -> list of (translation, score), one per text."""
        if not texts:  # the graph runs on an empty batch, but LiteRT's Python wrapper cannot read the empty score
            return []
        outputs = self.runner(text=np.array([text.encode("utf-8") for text in texts], dtype=object))
        return [(text.decode("utf-8"), float(score)) for text, score in zip(outputs["translation"], outputs["score"])]

    def translate_ids(self, source_ids):
        """int32 [B, S] -> (target_ids int32 [B, T], scores float32 [B]) numpy arrays (an --ids-only file)."""
        if not self.ids_only:
            raise ModelPathError("this .tflite takes text; convert with --ids-only for an ids signature")
        outputs = self.runner(source_ids=np.asarray(source_ids, np.int32))
        return outputs["target_ids"], outputs["score"]
