"""The tf.data pipeline: every pair exactly once per epoch, [START]/[END] placement, length limits reported,
token-budget buckets with little padding, seeded shuffling, sharding for tf.distribute, batches fit model.fit."""

import collections
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from tf_transformer.config import END_ID, PAD_ID, START_ID, DataConfig, TokenizerConfig
from tf_transformer.data import make_dataset
from tf_transformer.data.pipeline import padding_statistics
from tf_transformer.errors import DataError
from tf_transformer.text import build_tokenizer


@pytest.fixture(scope="module")
def small(cmudict):
    """1500 training pairs (every 80th) with char / whitespace tokenizers built on the whole train split."""
    train = cmudict.splits["train"]
    source = build_tokenizer(TokenizerConfig(kind="char", vocab_size=None), [word for word, _ in train])
    target = build_tokenizer(TokenizerConfig(kind="whitespace", vocab_size=None), [phones for _, phones in train])
    return train[::80][:1500], source, target


def _decoded_pairs(dataset, source_tokenizer, target_tokenizer):
    pairs = []
    for (source_ids, _), target_out in dataset:
        sources = source_tokenizer.detokenize(source_ids).numpy()
        targets = target_tokenizer.detokenize(target_out).numpy()
        pairs += [(s.decode(), t.decode()) for s, t in zip(sources, targets)]
    return pairs


def test_one_epoch_yields_every_pair_exactly_once(small):
    pairs, source, target = small
    pairs = pairs + pairs[:50]  # real duplicates must come out twice
    dataset = make_dataset(pairs, source, target, DataConfig(tokens_per_batch=1024))
    assert collections.Counter(_decoded_pairs(dataset, source, target)) == collections.Counter(pairs)
    assert dataset.length_report.kept == len(pairs) and dataset.length_report.dropped == 0


def test_shards_of_input_pipelines_partition_the_pairs(small):
    pairs, source, target = small
    seen = []
    for index in range(3):
        context = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=index, num_replicas_in_sync=3)
        seen += _decoded_pairs(make_dataset(pairs, source, target, DataConfig(tokens_per_batch=1024),
                                            input_context=context), source, target)
    assert collections.Counter(seen) == collections.Counter(pairs)


def test_target_in_starts_with_start_and_target_out_ends_with_end(small):
    pairs, source, target = small
    for (source_ids, target_in), target_out in make_dataset(pairs[:500], source, target, DataConfig()).take(3):
        assert source_ids.dtype == target_in.dtype == target_out.dtype == tf.int32
        target_in, target_out = target_in.numpy(), target_out.numpy()
        assert target_in.shape == target_out.shape
        assert (target_in[:, 0] == START_ID).all()
        lengths = (target_out != PAD_ID).sum(axis=1)
        assert (target_out[np.arange(len(lengths)), lengths - 1] == END_ID).all()
        np.testing.assert_array_equal(target_in[:, 1:][target_in[:, 1:] != PAD_ID],
                                      target_out[(target_out != PAD_ID) & (target_out != END_ID)])


def test_over_long_pairs_are_dropped_or_truncated_and_counted(small):
    pairs, source, target = small
    source_lengths = np.array([len(word) for word, _ in pairs])
    target_lengths = np.array([len(phones.split()) for _, phones in pairs])
    config = DataConfig(max_source_length=8, max_target_length=7)
    over = int(((source_lengths > 8) | (target_lengths > 6)).sum())
    assert 0 < over < len(pairs)
    dropped = make_dataset(pairs, source, target, config, training=False)
    assert (dropped.length_report.dropped, dropped.length_report.kept) == (over, len(pairs) - over)
    assert len(_decoded_pairs(dropped, source, target)) == len(pairs) - over
    truncated = make_dataset(pairs, source, target, dataclasses.replace(config, truncate=True), training=False)
    assert (truncated.length_report.truncated, truncated.length_report.kept) == (over, len(pairs))
    for (source_ids, target_in), target_out in truncated:
        assert source_ids.shape[1] <= 8 and target_in.shape[1] <= 7 and target_out.shape[1] <= 7


def test_batches_keep_within_the_token_budget(small):
    pairs, source, target = small
    for (source_ids, target_in), _ in make_dataset(pairs, source, target, DataConfig(tokens_per_batch=600)):
        assert source_ids.shape[0] * (source_ids.shape[1] + target_in.shape[1]) <= 600


def test_shuffling_is_seeded_and_differs_between_epochs(small):
    pairs, source, target = small
    config = DataConfig(tokens_per_batch=1024, seed=7)
    first = make_dataset(pairs, source, target, config)
    second = make_dataset(pairs, source, target, config)
    epoch = lambda dataset: [ids.numpy().tobytes() for (ids, _), _ in dataset]  # noqa: E731
    one, two = epoch(first), epoch(second)
    assert one == two
    assert epoch(first) != one
    assert epoch(make_dataset(pairs, source, target, config, training=False)) == epoch(
        make_dataset(pairs, source, target, config, training=False))


def test_empty_pairs_and_impossible_limits_raise(small):
    _, source, target = small
    with pytest.raises(DataError, match="no pairs"):
        make_dataset([], source, target, DataConfig())
    with pytest.raises(DataError, match="max_target_length"):
        make_dataset([("abc", "AH B")], source, target, DataConfig(max_source_length=1, max_target_length=2))


@pytest.mark.parametrize("step", [pytest.param(1, marks=pytest.mark.slow, id="full"), pytest.param(8, id="eighth")])
def test_bucketing_keeps_padding_under_ten_percent_on_the_cmudict_train_split(cmudict, step):
    train = cmudict.splits["train"][::step]
    source = build_tokenizer(TokenizerConfig(kind="char", vocab_size=None), [word for word, _ in train])
    target = build_tokenizer(TokenizerConfig(kind="whitespace", vocab_size=None), [phones for _, phones in train])
    config = DataConfig(corpus="cmudict")
    bucketed = padding_statistics(make_dataset(train, source, target, config))
    naive = padding_statistics(make_dataset(train, source, target, config, bucketing=False))
    print(f"padding: bucketed {bucketed['padding_fraction']:.1%}, naive {naive['padding_fraction']:.1%}")
    assert bucketed["pairs"] == naive["pairs"] == len(train)
    assert bucketed["padding_fraction"] <= 0.10 < naive["padding_fraction"]


def test_distribute_datasets_from_function_takes_the_pipeline(small):
    pairs, source, target = small
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    dataset = strategy.distribute_datasets_from_function(
        lambda context: make_dataset(pairs, source, target, DataConfig(tokens_per_batch=1024), input_context=context))
    assert sum(int(target_out.shape[0]) for (_, _), target_out in dataset) == len(pairs)


@pytest.mark.slow
def test_batches_go_straight_into_model_fit_under_a_distribution_strategy(small):
    import keras

    from tf_transformer import ModelConfig, Transformer

    pairs, source, target = small
    config = DataConfig(tokens_per_batch=1024)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = Transformer(ModelConfig.preset("tiny", source_vocab_size=source.vocab_size,
                                               target_vocab_size=target.vocab_size))
        model.compile(optimizer="adam",
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID))
    dataset = strategy.distribute_datasets_from_function(
        lambda context: make_dataset(pairs[:300], source, target, config, input_context=context))
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_pipeline_runs_without_tf_data_autotuning(small):
    """Deleting an autotuned iterator waits for the tuning thread's next wake-up (its period doubles to 60 s), and
    Keras deletes one per epoch for training and validation; the pipeline must be built with autotuning off."""
    pairs, source, target = small
    for training in (True, False):
        dataset = make_dataset(pairs, source, target, DataConfig(tokens_per_batch=1024), training=training)
        assert dataset.options().autotune.enabled is False
