"""Whitespace-token tokenizer (phoneme targets of G2P: "HH AH L OW"): one id per whitespace-separated token.

Graph: whitespace folding, tensorflow-text's `WhitespaceTokenizer` (TFLite-compatible), then a lookup table
initialised from the `vocab.txt` asset; detokenize joins the tokens with single spaces.
"""

import os

import tensorflow as tf
import tensorflow_text as tf_text

from tf_transformer.text import normalization
from tf_transformer.text.tokenizer import Tokenizer, lookup_tables, read_vocabulary


class WhitespaceTokenizer(Tokenizer):
    """Whitespace-separated tokens <-> ids. `normalize(" AH0  B ")` -> "AH0 B"."""

    kind = "whitespace"
    files = ("vocab.txt",)

    def _build(self, directory):
        path = os.path.join(directory, "vocab.txt")
        self._size = len(read_vocabulary(path))
        self.vocab_file = tf.saved_model.Asset(path)
        self._to_id, self._to_token = lookup_tables(self.vocab_file)
        self._splitter = tf_text.WhitespaceTokenizer()

    def _num_tokens(self):
        return self._size

    def _tokenize(self, text):
        # Fold first: WhitespaceTokenizer splits U+00A0 (NBSP) wrongly, leaving its first UTF-8 byte behind.
        tokens = self._splitter.tokenize(normalization.fold_whitespace_graph(text))
        return tokens.with_flat_values(self._to_id.lookup(tokens.flat_values))

    def _detokenize(self, ids):
        tokens = ids.with_flat_values(self._to_token.lookup(tf.cast(ids.flat_values, tf.int64)))
        return tf.strings.reduce_join(tokens, axis=-1, separator=" ")

    def _normalize_words(self, text):
        return normalization.fold_whitespace(text)

    @staticmethod
    def units(text):
        """The tokens of `text` counted when building the vocabulary."""
        folded = normalization.fold_whitespace(text)
        return folded.split(" ") if folded else []
