"""An `Ensemble` decodes as one model whose next-token distribution is its members' mean, through the same search
code as a single model: cached steps equal recomputation, beam scores are teacher-forced mean log-probabilities,
and a model ensembled with itself is that model."""

import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_transformer import ModelConfig, Transformer
from tf_transformer.config import END_ID, PAD_ID, START_ID
from tf_transformer.decoding import beam_search_decode, greedy_decode, make_decode_fn
from tf_transformer.ensemble import Ensemble, load_ensemble
from tf_transformer.errors import ConfigError

TARGET_VOCAB = 12


def _random_model(seed, **sizes):
    keras.utils.set_random_seed(seed)
    config = ModelConfig.preset("tiny", source_vocab_size=20, target_vocab_size=TARGET_VOCAB, dropout=0.0,
                                **sizes)
    model = Transformer(config)
    model.build()
    return model


@pytest.fixture(scope="module")
def members():
    """Two random models of different depths and widths (members need only share the vocabularies)."""
    return [_random_model(0), _random_model(1, d_model=32, d_ff=48, num_layers=1, num_heads=2)]


@pytest.fixture(scope="module")
def sources():
    """int32 [5, 7]: right-padded sources of lengths 7, 5, 3, 1, 0."""
    ids = np.random.default_rng(2).integers(4, 20, (5, 7)).astype("int32")
    for row, length in enumerate([7, 5, 3, 1, 0]):
        ids[row, length:] = PAD_ID
    return ids


def _mean_probabilities(models, source_ids, target_in):
    """numpy [B, T, V]: the mean over `models` of softmax(logits), teacher-forced."""
    inputs = {"source_ids": source_ids, "target_ids": target_in}
    return np.mean([tf.nn.softmax(model(inputs)).numpy() for model in models], axis=0)


def test_the_teacher_forced_distribution_is_the_members_mean(members, sources):
    target_in = np.random.default_rng(3).integers(4, TARGET_VOCAB, (5, 6)).astype("int32")
    target_in[:, 0] = START_ID
    log_probs = Ensemble(members)({"source_ids": sources, "target_ids": target_in}).numpy()
    np.testing.assert_allclose(np.exp(log_probs), _mean_probabilities(members, sources, target_in), atol=1e-6)


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_beam_hypotheses_are_scored_by_the_members_mean_log_probability(members, sources, jit_compile):
    decode = make_decode_fn(Ensemble(members), "beam", beam_size=3, n_best=3, max_extra_length=5,
                            jit_compile=jit_compile)
    target_ids, scores = (x.numpy() for x in decode(sources))
    assert target_ids.shape[:2] == (5, 3) and not target_ids[-1].any()  # the source of only padding: empty
    for source, hypotheses, row_scores in zip(sources[:-1], target_ids[:-1], scores[:-1]):
        assert np.all(np.diff(row_scores) <= 1e-6)
        for tokens, score in zip(hypotheses, row_scores):
            tokens = tokens[:np.flatnonzero(tokens == END_ID)[0] + 1] if END_ID in tokens else tokens[tokens != 0]
            target_in = np.concatenate([[START_ID], tokens[:-1]]).astype("int32")[None]
            probabilities = _mean_probabilities(members, source[None], target_in)[0]
            log_prob = np.log(probabilities[np.arange(len(tokens)), tokens]).sum()
            np.testing.assert_allclose(score, log_prob / ((5 + len(tokens)) / 6) ** 0.6, rtol=1e-4, atol=1e-4)


def test_cached_ensemble_decoding_equals_recomputing_the_prefix(members, sources):
    ensemble = Ensemble(members)
    cached, cached_scores = greedy_decode(ensemble, sources, max_length=10)
    recomputed, recomputed_scores = greedy_decode(ensemble, sources, max_length=10, use_cache=False)
    np.testing.assert_array_equal(cached, recomputed)
    np.testing.assert_allclose(cached_scores, recomputed_scores, rtol=1e-5, atol=1e-5)


def test_a_model_ensembled_with_itself_decodes_as_the_model(members, sources):
    alone = beam_search_decode(members[0], sources, beam_size=3, n_best=3, max_extra_length=5)
    twice = beam_search_decode(Ensemble([members[0], members[0]]), sources, beam_size=3, n_best=3,
                               max_extra_length=5)
    np.testing.assert_array_equal(twice[0], alone[0])
    np.testing.assert_allclose(twice[1], alone[1], rtol=1e-5, atol=1e-5)


def test_the_length_limit_is_the_shortest_members_and_vocabularies_must_agree(members):
    short = _random_model(4, max_length=24)
    assert Ensemble([members[0], short]).config.max_length == 24
    other = Transformer(ModelConfig.preset("tiny", source_vocab_size=20, target_vocab_size=TARGET_VOCAB + 4))
    other.build()
    with pytest.raises(ConfigError, match="different .*vocabulary sizes"):
        Ensemble([members[0], other])
    with pytest.raises(ConfigError, match="at least one model"):
        Ensemble([])


def test_runs_with_another_vocabulary_are_refused_before_any_model_loads(trained_run, tmp_path):
    """The check reads only the vocabularies: two copies without weights fail on the vocabulary, not on loading."""
    from tf_transformer.run_dir import RunPaths

    first, second = tmp_path / "first", tmp_path / "second"
    for copy in (first, second):
        shutil.copytree(trained_run["run_dir"], copy)
        shutil.rmtree(RunPaths(str(copy)).checkpoints)
        (copy / "model.keras").unlink()
    vocabulary = second / "vocab" / "target" / "vocab.txt"
    lines = vocabulary.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[-1], lines[-2] = lines[-2], lines[-1]  # two tokens trade ids
    vocabulary.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ConfigError, match=f"{second} has another target vocabulary than {first}"):
        load_ensemble([first, second])
