"""SentencePiece tokenizer: a unigram model trained with the `sentencepiece` package, applied in the graph by
tensorflow-text's FastSentencepieceTokenizer (TFLite-compatible).

The model is trained with identity normalisation on whitespace-folded (and optionally lower-cased) text, so
`normalize(text)` is just that folding. Characters unseen in training become [UNK], which the detokenizer
writes as " ⁇ " (SentencePiece's convention; the fast tokenizer has no byte fallback).
"""

import io
import os

import sentencepiece
import tensorflow as tf
import tensorflow_text as tf_text

from tf_transformer.config import END_ID, PAD_ID, RESERVED_TOKENS, START_ID, UNK_ID
from tf_transformer.errors import DataError
from tf_transformer.text import normalization
from tf_transformer.text.tokenizer import Tokenizer

MODEL_FILE = "sentencepiece.model"


class SentencepieceTokenizer(Tokenizer):
    """SentencePiece pieces <-> ids."""

    kind = "sentencepiece"
    files = (MODEL_FILE, "vocab.txt")

    def _build(self, directory):
        path = os.path.join(directory, MODEL_FILE)
        try:
            with open(path, "rb") as file:
                model = file.read()
        except FileNotFoundError:
            raise DataError(f"{path}: SentencePiece model not found (build it with `tf-transformer vocab`)") from None
        self.model_file = tf.saved_model.Asset(path)  # carried in the export; the fast model is a graph constant
        self._sentencepiece = tf_text.FastSentencepieceTokenizer(model)
        self._size = int(self._sentencepiece.vocab_size())

    def _num_tokens(self):
        return self._size

    def _tokenize(self, text):
        return self._sentencepiece.tokenize(normalization.fold_whitespace_graph(text))

    def _detokenize(self, ids):
        return self._sentencepiece.detokenize(ids)

    def _normalize_words(self, text):
        return normalization.fold_whitespace(text)

    def vocabulary(self):
        with open(os.path.join(self.directory, MODEL_FILE), "rb") as file:
            processor = sentencepiece.SentencePieceProcessor(model_proto=file.read())
        return [processor.id_to_piece(i) for i in range(processor.get_piece_size())]


def train_model(texts, vocab_size):
    """Serialized SentencePiece unigram model (bytes) trained on `texts` (already lower-cased and folded).

    Reserved ids: 0 [PAD], 1 [UNK], 2 [START], 3 [END]. If the text cannot fill `vocab_size` pieces the model
    gets fewer (SentencePiece's soft limit).
    """
    texts = [text for text in texts if text]
    if not texts:
        raise DataError("no text to train the SentencePiece model on (the corpus side is empty)")
    model = io.BytesIO()
    pad, unk, start, end = RESERVED_TOKENS
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=model, vocab_size=vocab_size, model_type="unigram",
            pad_id=PAD_ID, unk_id=UNK_ID, bos_id=START_ID, eos_id=END_ID,
            pad_piece=pad, unk_piece=unk, bos_piece=start, eos_piece=end,
            normalization_rule_name="identity", character_coverage=1.0, hard_vocab_limit=False,
            input_sentence_size=2_000_000, shuffle_input_sentence=True, seed_sentencepiece_size=1_000_000,
            num_threads=max(1, min(8, os.cpu_count() or 1)), minloglevel=2)
    except RuntimeError as error:
        raise DataError(f"SentencePiece training failed: {str(error).splitlines()[0]}") from None
    return model.getvalue()


def write_vocabulary_listing(model, path):
    """vocab.txt listing the pieces of a serialized model (for people; the graph reads the model itself)."""
    processor = sentencepiece.SentencePieceProcessor(model_proto=model)
    with open(path, "w", encoding="utf-8") as file:
        for i in range(processor.get_piece_size()):
            file.write(processor.id_to_piece(i) + "\n")
