"""Corpora (text pairs with deterministic splits) and the tf.data pipeline that turns them into batches.

    corpus = load_corpus(DataConfig(corpus="cmudict"))
    dataset = make_dataset(corpus.splits["train"], source_tokenizer, target_tokenizer, config)
    model.fit(dataset)          # ((source_ids [B, S], target_in [B, T]), target_out [B, T])
"""

from tf_transformer.data.corpora import SPLITS, Corpus, load_corpus, split_of
from tf_transformer.data.pipeline import LengthReport, make_dataset

__all__ = ["Corpus", "load_corpus", "split_of", "SPLITS", "make_dataset", "LengthReport"]
