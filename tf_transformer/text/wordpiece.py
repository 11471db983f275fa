"""WordPiece tokenizer: tensorflow-text's FastWordpieceTokenizer (end-to-end, TFLite-compatible) with a vocabulary
learned from the corpus (`learn_vocabulary`).

Pre-tokenization splits on whitespace and punctuation (BERT style), so `normalize("Hello, world!")` is
"Hello , world !": detokenize joins words with spaces and glues "##" continuation pieces to their word.
A word longer than 100 bytes, or with a character outside the vocabulary, becomes [UNK].
"""

import collections
import io
import os
import tempfile

import sentencepiece
import tensorflow as tf
import tensorflow_text as tf_text

from tf_transformer.config import RESERVED_TOKENS
from tf_transformer.errors import DataError
from tf_transformer.text import normalization
from tf_transformer.text.tokenizer import Tokenizer, read_vocabulary

SUFFIX_INDICATOR = "##"


class WordpieceTokenizer(Tokenizer):
    """Words and "##" continuation pieces <-> ids."""

    kind = "wordpiece"
    files = ("vocab.txt",)

    def _build(self, directory):
        path = os.path.join(directory, "vocab.txt")
        tokens = read_vocabulary(path)
        self._size = len(tokens)
        self.vocab_file = tf.saved_model.Asset(path)  # carried in the export; the model buffer is a graph constant
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=tokens, suffix_indicator=SUFFIX_INDICATOR, token_out_type=tf.int32,
            unknown_token=RESERVED_TOKENS[1], no_pretokenization=False, support_detokenization=True)

    def _num_tokens(self):
        return self._size

    def _tokenize(self, text):
        return self._wordpiece.tokenize(text)

    def _detokenize(self, ids):
        return self._wordpiece.detokenize(ids)

    def _normalize_words(self, text):
        return " ".join(normalization.split_words(text))

    @staticmethod
    def units(text):
        """The words of `text` (after BERT-style pre-tokenization) counted when learning the vocabulary."""
        return normalization.split_words(text)


def learn_vocabulary(word_counts, vocab_size):
    """WordPiece vocabulary of at most `vocab_size` tokens (reserved tokens first) from a Counter of words.

    Every character of the corpus is kept in both forms ("a" and "##a", most frequent first) so any word of
    known characters can be tokenized; the rest are subwords learned by SentencePiece's BPE trainer on the word
    counts (C++, fast even on millions of words) and written in WordPiece form: a word-initial piece "▁ab" becomes
    "ab", an inner piece "cd" becomes "##cd". tensorflow-text's own Python learner gives similar vocabularies
    but is far slower.
    """
    counts = collections.Counter({word: count for word, count in word_counts.items() if word})
    if not counts:
        raise DataError("no words to learn a WordPiece vocabulary from (the corpus side is empty)")
    characters = collections.Counter()
    for word, count in counts.items():
        for character in word:
            characters[character] += count
    budget = vocab_size - len(RESERVED_TOKENS)
    tokens = []
    for character, _ in sorted(characters.items(), key=lambda item: (-item[1], item[0])):
        tokens += [character, SUFFIX_INDICATOR + character]
    tokens = tokens[:budget]
    seen = set(tokens) | set(RESERVED_TOKENS)
    for piece in _bpe_pieces(counts, vocab_size) if len(tokens) < budget else []:
        token = piece[1:] if piece.startswith("\u2581") else SUFFIX_INDICATOR + piece
        if token in seen or token in ("", SUFFIX_INDICATOR) or "\u2581" in token:
            continue
        if len(tokens) == budget:
            break
        tokens.append(token)
        seen.add(token)
    return list(RESERVED_TOKENS) + tokens


def _bpe_pieces(counts, vocab_size):
    """SentencePiece BPE pieces (best first) learned from words with counts; "▁" marks a word start."""
    with tempfile.TemporaryDirectory(prefix="tf_transformer_wordpiece_") as directory:
        path = os.path.join(directory, "words.tsv")
        with open(path, "w", encoding="utf-8") as file:
            for word, count in counts.items():
                if "\t" not in word and "\n" not in word:
                    file.write(f"{word}\t{count}\n")
        model = io.BytesIO()
        try:
            sentencepiece.SentencePieceTrainer.train(
                input=path, input_format="tsv", model_writer=model, vocab_size=vocab_size, model_type="bpe",
                normalization_rule_name="identity", character_coverage=1.0, hard_vocab_limit=False,
                split_by_unicode_script=False, split_by_number=False, max_sentencepiece_length=32,
                num_threads=max(1, min(8, os.cpu_count() or 1)), minloglevel=2)
        except RuntimeError as error:
            raise DataError(f"WordPiece vocabulary learning failed: {str(error).splitlines()[0]}") from None
    processor = sentencepiece.SentencePieceProcessor(model_proto=model.getvalue())
    return [processor.id_to_piece(i) for i in range(processor.get_piece_size())
            if not (processor.is_control(i) or processor.is_unknown(i) or processor.is_unused(i))]
