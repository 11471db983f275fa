"""Make sure Keras runs on the TensorFlow backend (the package's graphs, tf.data and exports need it).

Imported first by `tf_transformer/__init__.py`: it sets `KERAS_BACKEND=tensorflow` when unset and raises
`BackendError` with the fix when another backend is forced, before any layer is built.
"""

import os
import sys

from tf_transformer.errors import BackendError

_FIX = "unset KERAS_BACKEND or set KERAS_BACKEND=tensorflow (tf-transformer needs the TensorFlow backend)"


def ensure_tensorflow_backend():
    """Select the TensorFlow backend, or raise `BackendError` if Keras is already on another one."""
    requested = os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if requested != "tensorflow":
        raise BackendError(f"KERAS_BACKEND={requested!r}: {_FIX}")
    keras = sys.modules.get("keras")  # not imported here: `import tf_transformer` stays light (the CLI's --help)
    if keras is not None and keras.backend.backend() != "tensorflow":
        raise BackendError(f"Keras was loaded with the {keras.backend.backend()!r} backend: {_FIX}")
