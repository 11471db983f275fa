"""tf-transformer: the Transformer of "Attention Is All You Need" as TensorFlow/Keras layers and a Keras Model.

    from tf_transformer import Transformer, ModelConfig, layers
"""

from tf_transformer.backend import ensure_tensorflow_backend

ensure_tensorflow_backend()

from tf_transformer import layers  # noqa: E402
from tf_transformer.config import ModelConfig  # noqa: E402
from tf_transformer.errors import TransformerError  # noqa: E402
from tf_transformer.model import Transformer  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Transformer", "ModelConfig", "TransformerError", "layers", "__version__"]
