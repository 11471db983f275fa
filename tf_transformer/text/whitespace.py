"""Whitespace-token tokenizer (phoneme targets of G2P: "HH AH L OW"): one id per whitespace-separated token.

Graph: whitespace folding, tensorflow-text's `WhitespaceTokenizer` (TFLite-compatible), then a lookup table
initialised from the `vocab.txt` asset; detokenize joins the tokens with single spaces.
"""

import tensorflow_text as tf_text

from tf_transformer.text import normalization
from tf_transformer.text.tokenizer import VocabularyTokenizer


class WhitespaceTokenizer(VocabularyTokenizer):
    """Whitespace-separated tokens <-> ids. `normalize(" AH0  B ")` -> "AH0 B"."""

    kind = "whitespace"
    separator = " "

    def _build(self, directory):
        super()._build(directory)
        self._splitter = tf_text.WhitespaceTokenizer()

    def _split(self, text):
        # The text is folded first: WhitespaceTokenizer splits U+00A0 (NBSP) wrongly, leaving a stray UTF-8 byte.
        return self._splitter.tokenize(text)

    @staticmethod
    def units(text):
        """The tokens of `text` counted when building the vocabulary."""
        folded = normalization.fold_whitespace(text)
        return folded.split(" ") if folded else []
