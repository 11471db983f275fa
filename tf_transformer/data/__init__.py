"""Corpora (text pairs with deterministic splits) and the tf.data pipeline that turns them into batches.

    corpus = load_corpus(DataConfig(corpus="cmudict"))
    dataset = make_dataset(corpus.splits["train"], source_tokenizer, target_tokenizer, config)
    model.fit(dataset)          # ((source_ids [B, S], target_in [B, T]), target_out [B, T])
"""

from tf_transformer.data.corpora import SPLITS, Corpus, load_corpus, split_of


def __getattr__(name):
    # The pipeline imports TensorFlow; reading corpora does not need it.
    if name in ("make_dataset", "LengthReport"):
        from tf_transformer.data import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'tf_transformer.data' has no attribute {name!r}")

__all__ = ["Corpus", "load_corpus", "split_of", "SPLITS", "make_dataset", "LengthReport"]
