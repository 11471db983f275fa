"""Character-level tokenizer (spelling, the grapheme side of G2P): one id per Unicode character.

Whitespace runs fold to one space, which is a token of its own; detokenize concatenates the characters.
Graph: `tf.strings.unicode_split` then a vocabulary lookup table initialised from the `vocab.txt` asset.
"""

import tensorflow as tf

from tf_transformer.text import normalization
from tf_transformer.text.tokenizer import VocabularyTokenizer


class CharacterTokenizer(VocabularyTokenizer):
    """Characters <-> ids. `normalize("Hello  World")` -> "Hello World" (lower-cased if configured)."""

    kind = "char"
    separator = ""

    def _split(self, text):
        return tf.strings.unicode_split(text, "UTF-8")

    @staticmethod
    def units(text):
        """The tokens of (normalised) `text` counted when building the vocabulary."""
        return list(normalization.fold_whitespace(text))
