"""Export a trained model for serving: a SavedModel with text-in/text-out signatures in the TF Serving layout.

    from tf_transformer.export import export_run, latest_version
    path = export_run("runs/g2p_tiny")                      # saved_models/g2p_tiny/1
    latest_version("saved_models/g2p_tiny")                 # the directory `translate --model` loads

Modules: `versions` (layout, next/latest version, atomic write), `saved_model` (the `ServingModule` tf.Module
with its signatures, `export_saved_model`, `export_run`).
"""

from tf_transformer.export.versions import (
    atomic_version_dir,
    check_version_free,
    latest_version,
    next_version,
    versions,
)

QUANTIZATIONS = ("none", "dynamic", "float16")  # `tf-transformer tflite --quantize` (export/tflite.py)
DECODINGS = ("greedy", "beam")  # `tf-transformer tflite --decoding`

__all__ = ["latest_version", "next_version", "versions", "atomic_version_dir", "check_version_free",
           "export_saved_model", "export_run", "export_loaded", "ServingModule"]


def __getattr__(name):
    # Lazy to keep the CLI parser light: `tf-transformer tflite`'s add_parser reads QUANTIZATIONS and DECODINGS from
    # this package, and saved_model imports TensorFlow and the model.
    if name in ("export_saved_model", "export_run", "export_loaded", "ServingModule", "SIGNATURES"):
        from tf_transformer.export import saved_model

        return getattr(saved_model, name)
    raise AttributeError(f"module 'tf_transformer.export' has no attribute {name!r}")
