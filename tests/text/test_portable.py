"""The TFLite forms of the tokenizers give the SavedModel's ids and strings for any bytes, invalid UTF-8 included."""

import random

import numpy as np
import pytest
import tensorflow as tf

from tf_transformer.config import TokenizerConfig
from tf_transformer.errors import ConfigError
from tf_transformer.export.saved_model import ServingModule
from tf_transformer.text import build_tokenizer, codepoints
from tf_transformer.text.portable import portable_tokenizer

TRAINING_TEXT = ["Hello World", "straße Ölig", "AH0 B K", "hh ah l ow", "ÉCOLE café", "x y z [UNK]", "日本"]
# pieces of inputs: letters in both cases, every kind of whitespace, İ (two characters in lower case), NUL (where
# tf.strings.lower stops), vocabulary tokens, and broken UTF-8 sequences (truncated, overlong, surrogates)
PIECES = [b"a", b"B", b" ", b"\t", b"\n", b"\xc2\xa0", b"\xe3\x80\x80", b"\xe2\x80\xa8", b"\xc2\x85", "é".encode(),
          "É".encode(), "İ".encode(), "ß".encode(), "Ö".encode(), "日".encode(), b"AH0", b"K", b"[UNK]", b"\x00",
          b"\xff", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80",
          "🙂".encode()]
MAX_LENGTH = 16


def _texts(seed=0):
    rng = random.Random(seed)
    texts = [b"", b"   ", b"a " * 3000, b"\t" * 5000 + b"x", b"x" * 5000]
    texts += [b"".join(rng.choice(PIECES) for _ in range(rng.randint(1, 12))) for _ in range(1500)]
    texts += [bytes(rng.randrange(256) for _ in range(rng.randint(1, 10))) for _ in range(500)]
    return texts


class _Serving:
    """What the SavedModel runs: ServingModule.source_ids without building a model."""

    def __init__(self, tokenizer):
        self.source_tokenizer, self._max_length = tokenizer, MAX_LENGTH

    source_ids = ServingModule.source_ids


def _same_width(a, b):
    width = max(a.shape[1], b.shape[1])
    return (np.pad(a, [[0, 0], [0, width - a.shape[1]]]), np.pad(b, [[0, 0], [0, width - b.shape[1]]]))


def test_utf8_decoding_repairs_bytes_as_unicode_transcode_does():
    texts = _texts(1)
    points = codepoints.decode_utf8(tf.constant(texts))
    got = tf.RaggedTensor.from_value_rowids(points.values, points.rows, nrows=len(texts)).to_list()
    repaired = tf.strings.unicode_transcode(tf.constant(texts), "UTF-8", "UTF-8", errors="replace")
    assert got == tf.strings.unicode_decode(repaired, "UTF-8").to_list()


@pytest.mark.parametrize("kind", ["char", "whitespace"])
@pytest.mark.parametrize("lowercase", [False, True])
def test_portable_tokenize_gives_the_saved_model_source_ids(kind, lowercase):
    tokenizer = build_tokenizer(TokenizerConfig(kind=kind, vocab_size=None, lowercase=lowercase), TRAINING_TEXT)
    texts = tf.constant(_texts())
    expected = _Serving(tokenizer).source_ids(texts).numpy()
    got = portable_tokenizer(tokenizer, "source").tokenize(texts, MAX_LENGTH).numpy()
    assert got.shape[1] <= MAX_LENGTH
    expected, got = _same_width(expected, got)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("kind", ["char", "whitespace"])
def test_portable_detokenize_gives_the_tokenizer_strings(kind, rng):
    tokenizer = build_tokenizer(TokenizerConfig(kind=kind, vocab_size=None), TRAINING_TEXT)
    ids = rng.integers(-2, tokenizer.vocab_size + 3, (400, 12)).astype(np.int32)  # [END] cuts, [PAD], out of range
    ids[0], ids[1, 0] = 0, 3
    expected = tokenizer.detokenize(ids).numpy()
    np.testing.assert_array_equal(portable_tokenizer(tokenizer, "target").detokenize(ids, MAX_LENGTH).numpy(),
                                  expected)


def test_kinds_tflite_cannot_prepare_are_refused_with_the_reason():
    wordpiece = build_tokenizer(TokenizerConfig(kind="wordpiece", vocab_size=60, lowercase=True), TRAINING_TEXT * 5)
    with pytest.raises(ConfigError, match="lower-casing"):
        portable_tokenizer(wordpiece, "source")
    portable_tokenizer(wordpiece, "target")  # detokenizing needs no lower-casing
    sentencepiece = build_tokenizer(TokenizerConfig(kind="sentencepiece", vocab_size=40), TRAINING_TEXT * 20)
    with pytest.raises(ConfigError, match="sentencepiece.*regex"):
        portable_tokenizer(sentencepiece, "source")
    with pytest.raises(ConfigError, match="sentencepiece.*FastSentencepieceDetokenize"):
        portable_tokenizer(sentencepiece, "target")


@pytest.mark.parametrize("kind", ["wordpiece"])
def test_native_tokenize_gives_the_saved_model_source_ids(kind):
    tokenizer = build_tokenizer(TokenizerConfig(kind=kind, vocab_size=80, lowercase=False), TRAINING_TEXT * 5)
    texts = tf.constant(_texts())
    expected = _Serving(tokenizer).source_ids(texts).numpy()
    got = portable_tokenizer(tokenizer, "source").tokenize(texts, MAX_LENGTH).numpy()
    expected, got = _same_width(expected, got)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("kind", ["wordpiece"])
def test_native_detokenize_gives_the_tokenizer_strings(kind, rng):
    tokenizer = build_tokenizer(TokenizerConfig(kind=kind, vocab_size=60), TRAINING_TEXT * 20)
    ids = rng.integers(-2, tokenizer.vocab_size + 3, (400, 12)).astype(np.int32)
    np.testing.assert_array_equal(portable_tokenizer(tokenizer, "target").detokenize(ids, MAX_LENGTH).numpy(),
                                  tokenizer.detokenize(ids).numpy())
