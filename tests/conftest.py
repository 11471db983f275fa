"""Shared fixtures: seeded random generators and a tiny random Transformer."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~20 s; run with `make test-slow`")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def tiny_config():
    from tf_transformer import ModelConfig

    return ModelConfig.preset("tiny", source_vocab_size=50, target_vocab_size=60, dropout=0.0)


@pytest.fixture
def tiny_model(tiny_config):
    import keras

    from tf_transformer import Transformer

    keras.utils.set_random_seed(0)
    model = Transformer(tiny_config)
    model.build()
    return model
