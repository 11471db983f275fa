"""tf-transformer: the Transformer of "Attention Is All You Need" as TensorFlow/Keras layers and a Keras Model.

    from tf_transformer import Transformer, ModelConfig, layers

Importing the package is light (no TensorFlow or Keras: `tf-transformer --help` answers at once); `Transformer`
and `layers` load Keras on first use.
"""

import importlib

from tf_transformer.backend import ensure_tensorflow_backend
from tf_transformer.config import ModelConfig
from tf_transformer.errors import TransformerError

ensure_tensorflow_backend()

__version__ = "0.1.0"
__all__ = ["Transformer", "ModelConfig", "TransformerError", "layers", "__version__"]


def __getattr__(name):
    if name == "Transformer":
        return importlib.import_module("tf_transformer.model").Transformer
    if name == "layers":
        return importlib.import_module("tf_transformer.layers")
    raise AttributeError(f"module 'tf_transformer' has no attribute {name!r}")
