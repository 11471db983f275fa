"""Tokenizers: detokenize(tokenize(x)) == normalize(x), reserved ids, [END]/[PAD] handling, save/load."""

import pytest
import tensorflow as tf

from tf_transformer.config import END_ID, PAD_ID, RESERVED_TOKENS, START_ID, TOKENIZER_KINDS, UNK_ID, TokenizerConfig
from tf_transformer.errors import ConfigError
from tf_transformer.text import build_tokenizer, load_tokenizer


def _round_trip(tokenizer, texts):
    ids = tokenizer.tokenize(tf.constant(texts))
    return [text.decode("utf-8") for text in tokenizer.detokenize(ids).numpy()], ids


def _texts(request, sample, side):
    pairs_or_texts = request.getfixturevalue(sample)
    if sample == "inline_sample":
        return pairs_or_texts
    return [pair[side] for pair in pairs_or_texts]


CASES = [  # (kind, sample fixture, side, lowercase)
    ("char", "cmudict_sample", 0, False),
    ("char", "inline_sample", None, False),
    ("char", "ding_sample", 0, True),
    ("whitespace", "cmudict_sample", 1, False),
    ("whitespace", "inline_sample", None, True),
    ("whitespace", "ding_sample", 1, False),
    ("wordpiece", "inline_sample", None, False),
    ("wordpiece", "cmudict_sample", 0, False),
    ("wordpiece", "ding_sample", 0, True),
    ("wordpiece", "ding_sample", 1, False),
    ("sentencepiece", "inline_sample", None, False),
    ("sentencepiece", "ding_sample", 0, False),
    ("sentencepiece", "ding_sample", 1, True),
]


@pytest.mark.parametrize("kind,sample,side,lowercase", CASES,
                         ids=[f"{k}-{s.split('_')[0]}-{side}{'-lower' if low else ''}" for k, s, side, low in CASES])
def test_detokenize_of_tokenize_is_the_normalised_text(request, kind, sample, side, lowercase):
    texts = _texts(request, sample, side)
    vocab_size = None if kind in ("char", "whitespace") else 600
    tokenizer = build_tokenizer(TokenizerConfig(kind=kind, vocab_size=vocab_size, lowercase=lowercase), texts)
    restored, ids = _round_trip(tokenizer, texts)
    mismatches = [(text, tokenizer.normalize(text), back) for text, back in zip(texts, restored)
                  if tokenizer.normalize(text) != back]
    assert not mismatches, f"{len(mismatches)} of {len(texts)} differ, e.g. {mismatches[:3]}"
    flat = ids.flat_values.numpy()
    assert ids.dtype == tf.int32 and flat.min() >= UNK_ID and flat.max() < tokenizer.vocab_size
    assert not set(flat) & {PAD_ID, START_ID, END_ID}, "tokenize must not emit [PAD], [START] or [END]"
    if lowercase:
        assert all(back == back.lower() for back in restored)


@pytest.mark.parametrize("kind", ["char", "whitespace", "wordpiece", "sentencepiece"])
def test_reserved_ids_come_first_and_size_is_rounded(kind, inline_sample):
    config = TokenizerConfig(kind=kind, vocab_size=None if kind in ("char", "whitespace") else 150,
                             round_to_multiple=8)
    tokenizer = build_tokenizer(config, inline_sample * 3)
    assert tokenizer.vocabulary()[:4] == list(RESERVED_TOKENS)
    assert tokenizer.vocab_size % 8 == 0 and tokenizer.num_tokens <= tokenizer.vocab_size < tokenizer.num_tokens + 8


def test_vocab_size_limits_learned_vocabularies(inline_sample):
    for kind in ("char", "whitespace", "wordpiece"):
        tokenizer = build_tokenizer(TokenizerConfig(kind=kind, vocab_size=21, round_to_multiple=1), inline_sample)
        assert tokenizer.num_tokens <= 21 and tokenizer.vocab_size == tokenizer.num_tokens


@pytest.mark.parametrize("kind", ["char", "whitespace", "wordpiece", "sentencepiece"])
def test_detokenize_drops_padding_start_and_everything_after_end(kind, inline_sample):
    vocab_size = None if kind in ("char", "whitespace") else 150
    tokenizer = build_tokenizer(TokenizerConfig(kind=kind, vocab_size=vocab_size), inline_sample * 3)
    texts = inline_sample[:3]
    expected, ids = _round_trip(tokenizer, texts)
    decorated = [[START_ID] + row + [END_ID] + row[:2] + [END_ID] for row in ids.to_list()]
    width = max(map(len, decorated)) + 3
    dense = tf.constant([row + [PAD_ID] * (width - len(row)) for row in decorated], tf.int32)
    ragged = tf.ragged.constant(decorated, dtype=tf.int32)
    for batch in (dense, ragged):
        assert [text.decode() for text in tokenizer.detokenize(batch).numpy()] == expected


def test_ids_beyond_the_real_vocabulary_detokenize_to_unk(inline_sample):
    tokenizer = build_tokenizer(TokenizerConfig(kind="whitespace", vocab_size=None, round_to_multiple=64),
                                inline_sample)
    unused = tokenizer.vocab_size - 1
    assert unused >= tokenizer.num_tokens
    text = tokenizer.detokenize(tf.constant([[unused, -5]], tf.int32)).numpy()[0].decode()
    assert text == f"{RESERVED_TOKENS[UNK_ID]} {RESERVED_TOKENS[UNK_ID]}"


@pytest.mark.parametrize("kind", TOKENIZER_KINDS)  # every kind a recipe may name builds, saves and loads
def test_saved_and_loaded_tokenizer_gives_the_same_ids(kind, inline_sample, tmp_path):
    vocab_size = None if kind in ("char", "whitespace") else 150
    tokenizer = build_tokenizer(TokenizerConfig(kind=kind, vocab_size=vocab_size, lowercase=True), inline_sample)
    tokenizer.save(tmp_path / kind)
    loaded = load_tokenizer(tmp_path / kind)
    assert (loaded.kind, loaded.vocab_size, loaded.lowercase) == (kind, tokenizer.vocab_size, True)
    texts = tf.constant(inline_sample)
    assert loaded.tokenize(texts).to_list() == tokenizer.tokenize(texts).to_list()


def test_bad_configs_and_missing_directories_raise_our_errors(tmp_path, inline_sample):
    from tf_transformer.errors import DataError

    with pytest.raises(ConfigError, match="tokenizer.kind"):
        build_tokenizer(TokenizerConfig(kind="bpe"), inline_sample)
    with pytest.raises(ConfigError, match="vocab_size"):
        build_tokenizer(TokenizerConfig(kind="wordpiece", vocab_size=None), inline_sample)
    with pytest.raises(DataError, match="empty"):
        build_tokenizer(TokenizerConfig(kind="char"), ["", "  "])
    with pytest.raises(DataError, match="tf-transformer vocab"):
        load_tokenizer(tmp_path / "nothing")
