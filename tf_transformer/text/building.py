"""Build tokenizers from text (`build_tokenizer`), load saved ones (`load_tokenizer`), and build the source and
target tokenizers of a recipe (`build_recipe_tokenizers`).

    tokenizer = build_tokenizer(TokenizerConfig(kind="char"), ["hello", "world"])
    tokenizer.save("runs/g2p/vocab/source")
    same = load_tokenizer("runs/g2p/vocab/source")
"""

import atexit
import collections
import json
import os
import shutil
import tempfile

from tf_transformer.config import RESERVED_TOKENS, TokenizerConfig
from tf_transformer.errors import DataError
from tf_transformer.text import normalization
from tf_transformer.text.character import CharacterTokenizer
from tf_transformer.text.sentencepiece_tokenizer import (
    MODEL_FILE,
    SentencepieceTokenizer,
    train_model,
    write_vocabulary_listing,
)
from tf_transformer.text.tokenizer import FORMAT_VERSION, METADATA_FILE, write_vocabulary
from tf_transformer.text.whitespace import WhitespaceTokenizer
from tf_transformer.text.wordpiece import WordpieceTokenizer, learn_vocabulary

TOKENIZERS = {cls.kind: cls for cls in (WordpieceTokenizer, SentencepieceTokenizer, CharacterTokenizer,
                                        WhitespaceTokenizer)}


def build_tokenizer(config: TokenizerConfig, texts):
    """Learn a vocabulary (or SentencePiece model) from `texts` and return the tokenizer.

    Args:
        config: kind, vocab_size (reserved ids included; None keeps every char/whitespace token seen),
            lowercase, round_to_multiple, min_frequency.
        texts: iterable of python str (one side of the training pairs).

    Returns:
        a `Tokenizer` living in a temporary directory until `save(directory)`.

    Raises:
        ConfigError: unknown kind or bad sizes (`TokenizerConfig.validate`). DataError: no text.
    """
    config.validate()
    lowercase = config.lowercase
    prepared = [normalization.fold_whitespace(text.lower() if lowercase else text) for text in texts]
    if not any(prepared):
        raise DataError(f"no text to build the {config.kind} vocabulary from (the corpus side is empty)")
    directory = _temporary_directory()
    cls = TOKENIZERS[config.kind]
    if config.kind == "sentencepiece":
        model = train_model(prepared, config.vocab_size)
        with open(os.path.join(directory, MODEL_FILE), "wb") as file:
            file.write(model)
        write_vocabulary_listing(model, os.path.join(directory, "vocab.txt"))
    else:
        counts = collections.Counter()
        for text, repeats in collections.Counter(prepared).items():  # each distinct text is split once
            for unit in cls.units(text):
                counts[unit] += repeats
        for token in RESERVED_TOKENS:
            counts.pop(token, None)
        if config.kind == "wordpiece":
            tokens = learn_vocabulary(counts, config.vocab_size)
        else:
            frequent = sorted((token for token, count in counts.items() if count >= config.min_frequency),
                              key=lambda token: (-counts[token], token))
            if config.vocab_size is not None:
                frequent = frequent[:max(0, config.vocab_size - len(RESERVED_TOKENS))]
            tokens = list(RESERVED_TOKENS) + frequent
        write_vocabulary(os.path.join(directory, "vocab.txt"), tokens)
    metadata = {"kind": config.kind, "lowercase": lowercase, "round_to_multiple": config.round_to_multiple,
                "format_version": FORMAT_VERSION}
    with open(os.path.join(directory, METADATA_FILE), "w", encoding="utf-8") as file:
        json.dump(metadata, file)
    return cls(directory, metadata)


def load_tokenizer(directory):
    """The tokenizer saved by `Tokenizer.save(directory)`.

    Raises:
        DataError: the directory or its tokenizer.json is missing or unreadable, naming the fix.
    """
    path = os.path.join(str(directory), METADATA_FILE)
    try:
        with open(path, encoding="utf-8") as file:
            metadata = json.load(file)
    except FileNotFoundError:
        raise DataError(f"{path}: no saved tokenizer here (build one with `tf-transformer vocab --output "
                        f"{directory}`)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not a valid tokenizer description ({error}); rebuild it with "
                        "`tf-transformer vocab`") from None
    kind = metadata.get("kind")
    if kind not in TOKENIZERS:
        raise DataError(f"{path}: unknown tokenizer kind {kind!r}; expected one of {', '.join(TOKENIZERS)}")
    return TOKENIZERS[kind](str(directory), metadata)


def build_recipe_tokenizers(recipe, pairs):
    """(source, target) tokenizers for a recipe from training `pairs` [(source, target), ...].

    With `recipe.shared_vocabulary` one tokenizer is built from both sides (source_tokenizer's settings) and
    returned twice.
    """
    sources = [source for source, _ in pairs]
    targets = [target for _, target in pairs]
    if recipe.shared_vocabulary:
        shared = build_tokenizer(recipe.source_tokenizer, sources + targets)
        return shared, shared
    return build_tokenizer(recipe.source_tokenizer, sources), build_tokenizer(recipe.target_tokenizer, targets)


def _temporary_directory():
    directory = tempfile.mkdtemp(prefix="tf_transformer_tokenizer_")
    atexit.register(shutil.rmtree, directory, True)
    return directory
