"""Character-level tokenizer (spelling, the grapheme side of G2P): one id per Unicode character.

Whitespace runs fold to one space, which is a token of its own; detokenize concatenates the characters.
Graph: `tf.strings.unicode_split` then a vocabulary lookup table initialised from the `vocab.txt` asset.
"""

import os

import tensorflow as tf

from tf_transformer.text import normalization
from tf_transformer.text.tokenizer import Tokenizer, lookup_tables, read_vocabulary


class CharacterTokenizer(Tokenizer):
    """Characters <-> ids. `normalize("Hello  World")` -> "Hello World" (lower-cased if configured)."""

    kind = "char"
    files = ("vocab.txt",)

    def _build(self, directory):
        path = os.path.join(directory, "vocab.txt")
        self._size = len(read_vocabulary(path))
        self.vocab_file = tf.saved_model.Asset(path)
        self._to_id, self._to_token = lookup_tables(self.vocab_file)

    def _num_tokens(self):
        return self._size

    def _tokenize(self, text):
        characters = tf.strings.unicode_split(normalization.fold_whitespace_graph(text), "UTF-8")
        return characters.with_flat_values(self._to_id.lookup(characters.flat_values))

    def _detokenize(self, ids):
        tokens = ids.with_flat_values(self._to_token.lookup(tf.cast(ids.flat_values, tf.int64)))
        return tf.strings.reduce_join(tokens, axis=-1)

    def _normalize_words(self, text):
        return normalization.fold_whitespace(text)

    @staticmethod
    def units(text):
        """The tokens of (normalised) `text` counted when building the vocabulary."""
        return list(normalization.fold_whitespace(text))
