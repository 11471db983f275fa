"""Text in, text out from Python: tokenize, decode in length-sorted batches, detokenize.

Used by training's dev evaluation and by the `translate`/`evaluate` commands on a run directory; the SavedModel
export does the same inside one tf.function (tf_transformer/export/).
"""

import numpy as np
import tensorflow as tf

from tf_transformer.config import PAD_ID
from tf_transformer.decoding import BatchDecoder


class Translator:
    """A model with its tokenizers and one traced decoding function.

    Args:
        model: a built `Transformer`.
        source_tokenizer, target_tokenizer: `tf_transformer.text.Tokenizer`s of the model's vocabularies.
        method: "greedy", "beam" or "sample"; **options: that method's options (beam_size, n_best, ...).

    Example:
        >>> translator = Translator(model, source_tokenizer, target_tokenizer, "beam", beam_size=4)
        >>> translator.translate(["hello"])          # [("HH AH L OW", -0.41)]
    """

    def __init__(self, model, source_tokenizer, target_tokenizer, method="greedy", **options):
        self.source_tokenizer, self.target_tokenizer = source_tokenizer, target_tokenizer
        self.n_best = options.get("n_best", 1) if method == "beam" else 1
        self.decoder = BatchDecoder(model, method, **options)

    def translate(self, texts, batch_size=64, progress=False):
        """Translate a list of strings.

        Returns:
            one (translation, score) per text in input order, or with n_best > 1 a list of n_best such pairs,
            best first. Empty texts give ("", 0.0)-like results without failing.
        """
        texts = list(texts)
        ids = self._tokenize(texts)
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))  # similar lengths share a batch
        results = [None] * len(texts)
        bar = _progress_bar(len(texts)) if progress else None
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = max(1, max(len(ids[i]) for i in rows))
            batch = np.full((len(rows), width), PAD_ID, np.int32)
            for row, i in enumerate(rows):
                batch[row, :len(ids[i])] = ids[i]
            target_ids, scores = self.decoder(batch)
            for row, i in enumerate(rows):
                results[i] = self._strings(target_ids[row], scores[row])
            if bar:
                bar.add(len(rows))
        return results

    def _tokenize(self, texts, chunk=4096):
        ids = []
        for start in range(0, len(texts), chunk):
            ids.extend(self.source_tokenizer.tokenize(tf.constant(texts[start:start + chunk], tf.string)).to_list())
        return ids

    def _strings(self, target_ids, scores):
        if self.n_best == 1:
            return self.target_tokenizer.detokenize(target_ids[None]).numpy()[0].decode("utf-8"), float(scores)
        texts = self.target_tokenizer.detokenize(target_ids).numpy()
        return [(text.decode("utf-8"), float(score)) for text, score in zip(texts, scores)]


def _progress_bar(total):
    import keras

    return keras.utils.Progbar(total, unit_name="sentence")
