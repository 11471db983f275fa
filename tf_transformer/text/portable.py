"""The tokenizers as graphs TFLite can run: TFLite builtins plus tensorflow-text's TFLite custom ops, no Flex.

    portable = portable_tokenizer(tokenizer, "source")   # a Tokenizer of kind char, whitespace or wordpiece
    source_ids = portable.tokenize(text, max_length)     # tf.string [B] -> int32 [B, S], S <= max_length
    text = portable.detokenize(target_ids, width)        # int32 [B, T], T <= width -> tf.string [B]

They give the SavedModel's results (`ServingModule.source_ids`, `Tokenizer.detokenize`) for any input, invalid
UTF-8 included, with one exception: lower-casing maps one character at a time (Python's `str.lower` of each,
plus `codepoints.lowercase_boundaries`), so a word-final Σ becomes σ where ICU's context rule writes ς.

- char: code points (tf_transformer/text/codepoints.py), whitespace folded, each mapped to its id by comparing
  with the vocabulary's characters (and, when lower-casing, every character whose lower case is one of them).
- whitespace: the same code points, cut into words at the folded spaces; a word's id is the vocabulary token it
  equals (compared character by character), else [UNK].
- wordpiece: tensorflow-text's FastWordpieceTokenizer (its own TFLite kernel; its ids equal the SavedModel's for
  invalid UTF-8 too); lower-casing would need the text rebuilt from code points, so a lower-casing wordpiece
  source is refused.
- sentencepiece: refused on both sides (the source's whitespace folding is a regex; tensorflow-text 2.21's TFLite
  detokenizer kernel is broken for batches).
- detokenize, char and whitespace: ids -> vocabulary strings (a builtin gather) joined by tensorflow-text's
  n-gram string join over the whole row; wordpiece: its tensorflow-text detokenizer.
"""

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from tf_transformer.config import END_ID, PAD_ID, START_ID, UNK_ID
from tf_transformer.errors import ConfigError
from tf_transformer.text import codepoints

UNICODE_SIZE = 0x110000


def portable_tokenizer(tokenizer, side):
    """The TFLite form of `tokenizer` (see the module docstring); `side` ("source"/"target") names it in errors.

    Raises:
        ConfigError: a kind (or option) TFLite cannot run on that side, saying why.
    """
    if tokenizer.kind in ("char", "whitespace"):
        return VocabularyPortable(tokenizer)
    if tokenizer.kind == "wordpiece":
        if side == "source" and tokenizer.lowercase:
            raise ConfigError("the source tokenizer (wordpiece, lowercase: true) cannot run in TFLite: TFLite has "
                              "no Unicode lower-casing kernel; train with tokenizer.lowercase: false, or "
                              "lower-case the text in the app and use --ids-only")
        return NativePortable(tokenizer)
    why = ("its whitespace folding is a regex, which TFLite cannot run" if side == "source" else
           "tensorflow-text's TFLite FastSentencepieceDetokenize kernel returns one string for a whole batch and "
           "then crashes (tensorflow-text 2.21)")
    raise ConfigError(f"the {side} tokenizer ({tokenizer.kind}) cannot run in TFLite: {why}; convert with "
                      "--ids-only and tokenize in the app")


class VocabularyPortable:
    """char and whitespace tokenizers in integer ops (see the module docstring)."""

    def __init__(self, tokenizer):
        self.kind, self.lowercase = tokenizer.kind, tokenizer.lowercase
        self.tokens = tokenizer.vocabulary()
        self.num_tokens = len(self.tokens)
        characters = sorted({c for token in self.tokens for c in token})
        self.keys, self.indices = character_table(characters, tokenizer.lowercase)  # code point -> 1-based index
        index = {c: i + 1 for i, c in enumerate(characters)}
        if self.kind == "char":
            singles = [(index[token], i) for i, token in enumerate(self.tokens) if len(token) == 1]
            self.character_ids = np.full(len(characters) + 2, UNK_ID, np.int32)
            for position, token_id in singles:
                self.character_ids[position] = token_id
        else:
            self.width = max(len(token) for token in self.tokens)
            self.spelled = np.zeros((self.num_tokens, self.width), np.int32)  # tokens as character indices
            for i, token in enumerate(self.tokens):
                self.spelled[i, :len(token)] = [index[c] for c in token]
        self.unknown = len(characters) + 1  # the index of a character outside the vocabulary
        separator = " " if self.kind == "whitespace" else ""
        self.strings = [""] + self.tokens + [separator + token for token in self.tokens]

    def tokenize(self, text, max_length):
        """tf.string [B] -> int32 [B, S] (0-padded, S <= max_length), as `ServingModule.source_ids`."""
        points = codepoints.decode_utf8(text)
        if self.lowercase:
            points = codepoints.lowercase_boundaries(points)
        points = codepoints.fold_whitespace(points)
        if self.kind == "char":
            return self._tokenize_characters(points, max_length)
        return self._tokenize_words(points, max_length)

    def _characters(self, values):
        """1-based vocabulary-character index of each code point int32 [N] (self.unknown when none)."""
        return codepoints.lookup(values, tf.constant(self.keys), tf.constant(self.indices), self.unknown)

    def _tokenize_characters(self, points, max_length):
        positions = codepoints.row_positions(points.rows, points.batch_size)
        keep = tf.reshape(tf.where(positions < max_length), [-1])
        values, rows, positions = (tf.gather(t, keep) for t in (points.values, points.rows, positions))
        ids = tf.gather(tf.constant(self.character_ids), self._characters(values))
        return codepoints.to_dense(ids, rows, positions, points.batch_size, max_length)

    def _tokenize_words(self, points, max_length):
        space = tf.equal(points.values, codepoints.SPACE)
        words = codepoints.row_cumsum(tf.cast(space, tf.int32), points.rows, points.batch_size)  # word index in its row
        keep = tf.reshape(tf.where(tf.logical_not(space) & (words < max_length)), [-1])
        values, rows, words = (tf.gather(t, keep) for t in (points.values, points.rows, words))
        new_word = tf.not_equal(rows, _previous(rows)) | tf.not_equal(words, _previous(words))
        groups = tf.cumsum(tf.cast(new_word, tf.int32)) - 1  # one id per kept word of the batch
        count = tf.reduce_sum(tf.cast(new_word, tf.int32))
        positions = codepoints.row_positions(groups, count)
        inside = tf.reshape(tf.where(positions < self.width), [-1])
        spelled = tf.scatter_nd(tf.stack([tf.gather(groups, inside), tf.gather(positions, inside)], axis=1),
                                tf.gather(self._characters(values), inside), tf.stack([count, self.width]))
        too_long = tf.math.unsorted_segment_max(positions, groups, count) >= self.width
        match = tf.reduce_all(tf.equal(spelled[:, None], tf.constant(self.spelled)[None]), axis=2)  # [W, V]
        found = tf.reduce_any(match, axis=1) & tf.logical_not(too_long)
        ids = tf.where(found, tf.argmax(tf.cast(match, tf.int32), axis=1, output_type=tf.int32), UNK_ID)
        first = tf.reshape(tf.where(new_word), [-1])
        word_rows, word_positions = tf.gather(rows, first), tf.gather(words, first)
        return codepoints.to_dense(ids, word_rows, word_positions, points.batch_size, max_length)

    def detokenize(self, ids, width):
        """int32 [B, T] (T <= width) -> tf.string [B], as `Tokenizer.detokenize` of dense ids."""
        ids = tf.cast(ids, tf.int32)
        keep = _kept_tokens(ids)
        ids = tf.where((ids < 0) | (ids >= self.num_tokens), UNK_ID, ids)
        rank = tf.cumsum(tf.cast(keep, tf.int32), axis=1, exclusive=True)  # 0 for the first kept token of a row
        index = tf.where(keep, ids + 1 + tf.where(rank > 0, self.num_tokens, 0), 0)
        index = tf.pad(index, [[0, 0], [0, width - tf.shape(index)[1]]])
        strings = tf.gather(tf.constant(self.strings), tf.reshape(index, [-1]))
        # ragged rows of exactly `width` strings: one n-gram of the whole row each (the dense form of this op
        # crashes TensorFlow for batches of more than a few rows)
        splits = tf.range(tf.shape(index, out_type=tf.int64)[0] + 1) * width
        rows = tf.RaggedTensor.from_row_splits(strings, splits, validate=False)
        joined = tf_text.ngrams(rows, width=width, axis=-1, reduction_type=tf_text.Reduction.STRING_JOIN,
                                string_separator="")
        return joined.flat_values


class NativePortable:
    """wordpiece: its tensorflow-text ops have TFLite kernels of their own."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def tokenize(self, text, max_length):
        ids = self.tokenizer._tokenize(text)  # noqa: SLF001  (the op itself, without the Flex-only preparation)
        rows, values = tf.cast(ids.value_rowids(), tf.int32), tf.cast(ids.flat_values, tf.int32)
        positions = codepoints.row_positions(rows, tf.shape(text)[0])
        return codepoints.to_dense(values, rows, positions, tf.shape(text)[0], max_length)

    def detokenize(self, ids, width):
        del width
        return self.tokenizer.detokenize(ids)


def character_table(characters, lowercase):
    """(keys int32 [K], indices int32 [K]): the code points that stand for each of `characters` (1-based index):
    the character itself, or with `lowercase` every code point whose lower case (`str.lower`) it is."""
    index = {c: i + 1 for i, c in enumerate(characters)}
    if not lowercase:
        pairs = sorted((ord(c), i) for c, i in index.items())
    else:
        pairs = []
        for code in range(UNICODE_SIZE):
            if 0xD800 <= code < 0xE000:
                continue
            lower = chr(code).lower()
            if lower in index:
                pairs.append((code, index[lower]))
    keys, indices = zip(*pairs) if pairs else ((), ())
    return np.array(keys, np.int32), np.array(indices, np.int32)


def _previous(x):
    """x shifted one place right, -1 first."""
    return tf.slice(tf.concat([[-1], x], 0), [0], [tf.size(x)])


def _kept_tokens(ids):
    """bool [B, T]: the tokens detokenize writes (before the first [END]; not [PAD] or [START])."""
    after_end = tf.cumsum(tf.cast(tf.equal(ids, END_ID), tf.int32), axis=1) > 0
    return tf.logical_not(after_end) & tf.not_equal(ids, PAD_ID) & tf.not_equal(ids, START_ID)
