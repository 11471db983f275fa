"""The CMU dictionary corpus, read once for all data tests."""

import pytest


@pytest.fixture(scope="session")
def cmudict():
    from tf_transformer.config import DataConfig
    from tf_transformer.data import load_corpus

    return load_corpus(DataConfig(corpus="cmudict"))
