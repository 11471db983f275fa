"""Text in, text out from Python: tokenize, decode in length-sorted batches, detokenize.

Used by training's dev evaluation and by the `translate`/`evaluate` commands on a run directory; the SavedModel
export does the same inside one tf.function (tf_transformer/export/).
"""

import numpy as np
import tensorflow as tf

from tf_transformer.config import PAD_ID
from tf_transformer.decoding import BatchDecoder
from tf_transformer.reporting import ProgressBar


class Translator:
    """A model with its tokenizers and one traced decoding function.

    Args:
        model: a built `Transformer`.
        source_tokenizer, target_tokenizer: `tf_transformer.text.Tokenizer`s of the model's vocabularies.
        method: "greedy", "beam" or "sample"; **options: that method's options (beam_size, n_best, ...).
        jit_compile: compile the decoding with XLA (`make_decode_fn`): much faster on long inputs, seconds of
            compilation per new batch/length bucket.

    Example:
        >>> translator = Translator(model, source_tokenizer, target_tokenizer, "beam", beam_size=4)
        >>> translator.translate(["hello"])          # [("HH AH L OW", -0.41)]
    """

    def __init__(self, model, source_tokenizer, target_tokenizer, method="greedy", jit_compile=False, **options):
        self.source_tokenizer, self.target_tokenizer = source_tokenizer, target_tokenizer
        self.method, self.options, self.jit_compile = method, options, jit_compile
        self.n_best = options.get("n_best", 1) if method == "beam" else 1
        self.decoder = BatchDecoder(model, method, jit_compile, num_tokens=target_tokenizer.num_tokens, **options)

    def translate(self, texts, batch_size=64, progress=False):
        """Translate a list of strings (see `translate_texts`): one (translation, score) per text, in input order,
        or with n_best > 1 a list of n_best such pairs, best first."""
        return translate_texts(self, texts, batch_size, progress)

    def translate_batch(self, texts):
        """Decode one batch of non-empty strings as one padded id array; results as in `translate`."""
        ids = self._tokenize(list(texts))
        batch = np.full((len(ids), max(1, max(len(row) for row in ids))), PAD_ID, np.int32)
        for row, tokens in enumerate(ids):
            batch[row, :len(tokens)] = tokens
        target_ids, scores = self.decoder(batch)  # [B, T], [B] or with n-best [B, n, T], [B, n]
        width = target_ids.shape[-1]
        strings = [text.decode("utf-8") for text in
                   self.target_tokenizer.detokenize(target_ids.reshape(-1, width)).numpy()]  # one call per batch
        if self.n_best == 1:
            return list(zip(strings, map(float, scores)))
        n = self.n_best
        return [list(zip(strings[row * n:(row + 1) * n], map(float, scores[row]))) for row in range(len(ids))]

    def _tokenize(self, texts, chunk=4096):
        ids = []
        for start in range(0, len(texts), chunk):
            ids.extend(self.source_tokenizer.tokenize(tf.constant(texts[start:start + chunk], tf.string)).to_list())
        return ids


def translate_texts(translator, texts, batch_size=64, progress=False):
    """Translate `texts` in input order, batching similar lengths; blank texts give ("", 0.0) without decoding
    (with n-best: [("", 0.0)]).

    Args:
        translator: a `Translator`, or any object with `translate_batch(list of str) -> list of results` and
            `n_best` (the CLI's SavedModel translator).
        texts: list of str.
        progress: show a `reporting.ProgressBar` on stderr.
    """
    results = [("", 0.0) if translator.n_best == 1 else [("", 0.0)] for _ in texts]
    order = sorted((i for i, text in enumerate(texts) if text.strip()), key=lambda i: len(texts[i]))
    bar = ProgressBar(len(order), "translated", "sentences") if progress else None
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        for i, result in zip(rows, translator.translate_batch([texts[i] for i in rows])):
            results[i] = result
        if bar:
            bar.advance(len(rows))
    if bar:
        bar.close()
    return results
