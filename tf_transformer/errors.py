"""Errors a user can cause and fix: each message names the place (file, line, field) and the fix.

The CLI prints them as one line (`error: ...`) and exits non-zero; library users catch `TransformerError`.
"""


class TransformerError(Exception):
    """Base of every error this package raises for bad input, config or environment."""


class BackendError(TransformerError):
    """Keras runs on a backend other than TensorFlow."""


class ConfigError(TransformerError):
    """A model or training recipe value is missing, unknown, of the wrong type or inconsistent."""


class DataError(TransformerError):
    """A corpus, vocabulary or input text cannot be read as expected."""


class ModelPathError(TransformerError):
    """A run directory or exported model is missing or incomplete."""
