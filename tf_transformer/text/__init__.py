"""Tokenizers as tf.Modules whose tokenize/detokenize are TensorFlow graphs (tensorflow-text ops) that travel
inside a SavedModel: wordpiece, sentencepiece, char (characters) and whitespace (phonemes).

    from tf_transformer.text import build_tokenizer, load_tokenizer
    tokenizer = build_tokenizer(TokenizerConfig(kind="wordpiece", vocab_size=8000), texts)
    ids = tokenizer.tokenize(tf.constant(["Guten Morgen"]))        # RaggedTensor int32 [B, None]
    tokenizer.detokenize(ids)                                       # tf.string [B]
    tokenizer.save("vocab/source"); load_tokenizer("vocab/source")
"""

from tf_transformer.text.building import TOKENIZERS, build_recipe_tokenizers, build_tokenizer, load_tokenizer
from tf_transformer.text.character import CharacterTokenizer
from tf_transformer.text.sentencepiece_tokenizer import SentencepieceTokenizer
from tf_transformer.text.tokenizer import Tokenizer
from tf_transformer.text.whitespace import WhitespaceTokenizer
from tf_transformer.text.wordpiece import WordpieceTokenizer

__all__ = ["Tokenizer", "build_tokenizer", "load_tokenizer", "build_recipe_tokenizers", "TOKENIZERS",
           "CharacterTokenizer", "WhitespaceTokenizer", "WordpieceTokenizer", "SentencepieceTokenizer"]
