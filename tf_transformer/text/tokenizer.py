"""The `Tokenizer` base: a tf.Module whose `tokenize` / `detokenize` are graphs that go into a SavedModel.

Every tokenizer lives in a directory: `tokenizer.json` (kind, options, sizes) and its vocabulary or model file
(`vocab.txt`, `sentencepiece.model`). A freshly built tokenizer lives in a temporary directory until `save()`;
`tf_transformer.text.load_tokenizer(directory)` rebuilds it. Vocabulary files are attached as
`tf.saved_model.Asset`s, so an export that holds a tokenizer carries them in its `assets/` folder.

Ids 0..3 are reserved in every vocabulary: [PAD], [UNK], [START], [END] (`tf_transformer.config`).
"""

import filecmp
import json
import os
import shutil

import tensorflow as tf

from tf_transformer.config import END_ID, PAD_ID, RESERVED_TOKENS, START_ID, UNK_ID
from tf_transformer.errors import DataError
from tf_transformer.text import normalization

METADATA_FILE = "tokenizer.json"
FORMAT_VERSION = 1


class Tokenizer(tf.Module):
    """Text <-> ids for one side of a translation task (subclasses: wordpiece, sentencepiece, char, whitespace).

    Attributes:
        kind: "wordpiece", "sentencepiece", "char" or "whitespace".
        vocab_size: python int, reserved ids included, rounded up to a multiple of `round_to_multiple`; this is
            what the model's embedding needs. Ids from `num_tokens` to `vocab_size - 1` are never produced and
            detokenize to [UNK].
        num_tokens: python int, the real vocabulary length.
        lowercase: text is lower-cased before tokenizing.
        directory: where the vocabulary files of this tokenizer live.

    Graph methods (tf.functions, traced for the SavedModel):
        tokenize(text: tf.string [B]) -> tf.RaggedTensor int32 [B, None], no [START]/[END] added.
        detokenize(ids: int32 [B, T] dense, or ragged [B, None]) -> tf.string [B]: drops [PAD] and [START] and
            everything from the first [END] on.
    """

    kind = None
    files = ()  # the files (besides tokenizer.json) that make this tokenizer, copied by save()

    def __init__(self, directory, metadata, name=None):
        super().__init__(name=name or f"{self.kind}_tokenizer")
        self.directory = str(directory)
        self.lowercase = bool(metadata.get("lowercase", False))
        self.round_to_multiple = int(metadata.get("round_to_multiple", 1))
        self._metadata = dict(metadata)
        self._build(directory)
        self.num_tokens = int(self._num_tokens())
        multiple = max(1, self.round_to_multiple)
        self.vocab_size = -(-self.num_tokens // multiple) * multiple
        # Trace both forms of detokenize now, so a SavedModel holding this tokenizer serves dense and ragged ids.
        self.detokenize.get_concrete_function(tf.TensorSpec([None, None], tf.int32))
        self.detokenize.get_concrete_function(tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1))

    # ---- what subclasses provide ---------------------------------------------------------------------------

    def _build(self, directory):
        """Create the lookup tables / tensorflow-text tokenizer from the files in `directory`."""
        raise NotImplementedError

    def _num_tokens(self):
        raise NotImplementedError

    def _tokenize(self, text):
        """Graph: prepared (lower-cased) tf.string [B] -> RaggedTensor int32 [B, None]."""
        raise NotImplementedError

    def _detokenize(self, ids):
        """Graph: RaggedTensor int32 [B, None] of real token ids (no reserved ids but [UNK]) -> tf.string [B]."""
        raise NotImplementedError

    def _normalize_words(self, text):
        """Python: lower-cased `text` -> what detokenize(tokenize(text)) gives (whitespace folding, splitting)."""
        raise NotImplementedError

    # ---- the public interface ------------------------------------------------------------------------------

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def tokenize(self, text):
        """tf.string [B] -> RaggedTensor int32 [B, None] of token ids (no [START]/[END])."""
        if self.lowercase:
            text = normalization.lowercase_graph(text)
        ids = self._tokenize(text)
        return tf.RaggedTensor.from_row_splits(tf.cast(ids.flat_values, tf.int32),
                                               tf.cast(ids.row_splits, tf.int64), validate=False)

    @tf.function
    def detokenize(self, ids):
        """int32 [B, T] (dense, padded) or RaggedTensor [B, None] -> tf.string [B].

        [PAD] and [START] are dropped, and everything from the first [END] on; ids outside the vocabulary
        become [UNK].
        """
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_tensor(default_value=PAD_ID)
        ids = tf.cast(ids, tf.int32)
        after_end = tf.cumsum(tf.cast(tf.equal(ids, END_ID), tf.int32), axis=1) > 0
        keep = tf.logical_not(after_end) & tf.not_equal(ids, PAD_ID) & tf.not_equal(ids, START_ID)
        ids = tf.where((ids < 0) | (ids >= self.num_tokens), tf.constant(UNK_ID, tf.int32), ids)
        return self._detokenize(tf.ragged.boolean_mask(ids, keep))

    def normalize(self, text):
        """Python str -> the string detokenize(tokenize(text)) returns (for text whose tokens are in the vocabulary).

        Lower-cases (if configured) and folds whitespace; the wordpiece tokenizer also puts spaces around
        punctuation.
        """
        if self.lowercase:
            text = text.lower()
        return self._normalize_words(text)

    def save(self, directory):
        """Write this tokenizer to `directory` (created if needed): tokenizer.json plus its vocabulary files."""
        os.makedirs(directory, exist_ok=True)
        for file in self.files:
            source, target = os.path.join(self.directory, file), os.path.join(directory, file)
            if os.path.abspath(source) != os.path.abspath(target):
                shutil.copyfile(source, target)
        metadata = {**self._metadata, "kind": self.kind, "format_version": FORMAT_VERSION,
                    "lowercase": self.lowercase, "round_to_multiple": self.round_to_multiple,
                    "num_tokens": self.num_tokens, "vocab_size": self.vocab_size,
                    "reserved_tokens": list(RESERVED_TOKENS)}
        with open(os.path.join(directory, METADATA_FILE), "w", encoding="utf-8") as file:
            json.dump(metadata, file, indent=2)
            file.write("\n")

    def same_ids_as(self, other):
        """Whether `other` maps text to the same ids: the same kind, options and vocabulary files (byte for byte)."""
        def signature(tokenizer):
            return tokenizer.kind, tokenizer.lowercase, tokenizer.num_tokens, tokenizer.vocab_size, \
                sorted(tokenizer.files)
        return signature(self) == signature(other) and all(
            filecmp.cmp(os.path.join(self.directory, name), os.path.join(other.directory, name), shallow=False)
            for name in self.files)

    def vocabulary(self):
        """The tokens by id (python list of str, length `num_tokens`)."""
        return read_vocabulary(os.path.join(self.directory, "vocab.txt"))

    def __repr__(self):
        return f"<{type(self).__name__} vocab_size={self.vocab_size} lowercase={self.lowercase}>"


class VocabularyTokenizer(Tokenizer):
    """A tokenizer that splits text into units in the graph and maps each unit through `vocab.txt` (an asset).

    Subclasses give `_split(text) -> RaggedTensor of unit strings` and the `separator` detokenize joins with.
    """

    files = ("vocab.txt",)
    separator = ""

    def _build(self, directory):
        path = os.path.join(directory, "vocab.txt")
        self._size = len(read_vocabulary(path))
        self.vocab_file = tf.saved_model.Asset(path)
        self._to_id, self._to_token = lookup_tables(self.vocab_file)

    def _num_tokens(self):
        return self._size

    def _split(self, text):
        raise NotImplementedError

    def _tokenize(self, text):
        units = self._split(normalization.fold_whitespace_graph(text))
        return units.with_flat_values(self._to_id.lookup(units.flat_values))

    def _detokenize(self, ids):
        tokens = ids.with_flat_values(self._to_token.lookup(tf.cast(ids.flat_values, tf.int64)))
        return tf.strings.reduce_join(tokens, axis=-1, separator=self.separator)

    def _normalize_words(self, text):
        return normalization.fold_whitespace(text)


def read_vocabulary(path):
    """The tokens of a vocab.txt (one per line; a line may be a single space), checked for the reserved ids."""
    try:
        with open(path, encoding="utf-8", newline="") as file:
            tokens = file.read().split("\n")
    except FileNotFoundError:
        raise DataError(f"{path}: vocabulary file not found (build it with `tf-transformer vocab`)") from None
    if tokens and tokens[-1] == "":
        tokens.pop()
    if tuple(tokens[:len(RESERVED_TOKENS)]) != RESERVED_TOKENS:
        raise DataError(f"{path}:1: the vocabulary must start with {' '.join(RESERVED_TOKENS)} (ids 0-3); "
                        "rebuild it with `tf-transformer vocab`")
    return tokens


def write_vocabulary(path, tokens):
    """Write `tokens` one per line (tokens contain no newline: whitespace is folded to single spaces)."""
    for token in tokens:
        if "\n" in token or token == "":
            raise DataError(f"{path}: token {token!r} cannot be stored one per line; fold whitespace first")
    with open(path, "w", encoding="utf-8", newline="") as file:
        file.write("".join(token + "\n" for token in tokens))


def lookup_tables(vocab_asset):
    """(token -> id, id -> token) StaticHashTables initialised from the vocabulary asset at load time."""
    whole_line, line_number = tf.lookup.TextFileIndex.WHOLE_LINE, tf.lookup.TextFileIndex.LINE_NUMBER
    # Anonymous: a named table is shared by every table of the process with the same vocabulary *path*, so a
    # tokenizer whose temporary directory reused an older one's path looked words up in the older vocabulary.
    to_id = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(vocab_asset, tf.string, whole_line, tf.int64, line_number),
        default_value=UNK_ID, experimental_is_anonymous=True)
    to_token = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(vocab_asset, tf.int64, line_number, tf.string, whole_line),
        default_value=RESERVED_TOKENS[UNK_ID], experimental_is_anonymous=True)
    return to_id, to_token
