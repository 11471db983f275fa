"""Text normalisation shared by the tokenizers, in two identical forms: Python (`fold_whitespace`, `split_words`)
and TensorFlow graph ops (`fold_whitespace_graph`, `lowercase_graph`).

`Tokenizer.normalize(text)` is built from the Python form and equals `detokenize(tokenize(text))` for text whose
tokens are all in the vocabulary; the tests check the two forms agree on corpus samples.

Whitespace is Unicode's White_Space property (what ICU and tensorflow-text's WhitespaceTokenizer split on), not
Python's `str.isspace` (which also counts the separators U+001C..U+001F).
"""

import functools
import re
import unicodedata

import tensorflow as tf

# Unicode White_Space: the characters tensorflow-text (ICU) treats as whitespace.
WHITESPACE_CHARACTERS = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
                         "\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_WHITESPACE_RUN = re.compile(f"[{re.escape(WHITESPACE_CHARACTERS)}]+")
# The same class in RE2 syntax, for tf.strings.regex_replace.
_RE2_WHITESPACE = "[" + "".join(f"\\x{{{ord(c):04x}}}" for c in WHITESPACE_CHARACTERS) + "]"

# CJK ideograph blocks that BERT-style pre-tokenization (FastWordpieceTokenizer) splits into single characters.
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
               (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def fold_whitespace(text):
    """`text` with every run of whitespace replaced by one space and no leading/trailing whitespace."""
    return _WHITESPACE_RUN.sub(" ", text).strip(" ")


def fold_whitespace_graph(text):
    """Graph form of `fold_whitespace` on a tf.string tensor of any shape."""
    text = tf.strings.regex_replace(text, _RE2_WHITESPACE + "+", " ")
    return tf.strings.regex_replace(text, "^ | $", "")


def lowercase_graph(text):
    """Unicode lower-casing of a tf.string tensor; equals Python's `str.lower` on the corpora we ship."""
    return tf.strings.lower(text, encoding="utf-8")


def is_split_character(character):
    """True if BERT-style pre-tokenization makes `character` a word of its own (punctuation, CJK ideographs).

    Punctuation is ASCII 33-47, 58-64, 91-96, 123-126 and every Unicode category P*, as FastWordpieceTokenizer.
    """
    code = ord(character)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    if any(low <= code <= high for low, high in _CJK_RANGES):
        return True
    return unicodedata.category(character).startswith("P")


def split_words(text):
    """Words of `text` as FastWordpieceTokenizer's end-to-end pre-tokenization finds them.

    Splits on whitespace and makes every punctuation mark and CJK ideograph a word of its own:
    "Hello, world!" -> ["Hello", ",", "world", "!"].
    """
    return _word_pattern().findall(text)


@functools.lru_cache(maxsize=1)
def _word_pattern():
    """Regex: one split character, or a run of characters that are neither split characters nor whitespace."""
    # Unicode punctuation (P*) lies below U+20000; the ASCII symbols and CJK blocks are added as ranges.
    codes = {code for code in range(0x20000) if unicodedata.category(chr(code))[0] == "P"}
    codes -= set(range(0xD800, 0xE000))
    ranges = [(33, 47), (58, 64), (91, 96), (123, 126), *_CJK_RANGES]
    ranges += [(code, code) for code in sorted(codes)]
    split_class = "".join(re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}"
                          for low, high in ranges)
    return re.compile(f"[{split_class}]|[^{split_class}{re.escape(WHITESPACE_CHARACTERS)}]+")
