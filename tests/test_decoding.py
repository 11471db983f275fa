"""Properties of tf_transformer.decoding on small random models: cached search equals full recomputation, beam
search is consistent with greedy and with teacher forcing, batches equal single inputs, one trace serves all shapes,
no search ever emits [PAD], [START] or an id past the tokenizer's real vocabulary, and empty or over-long inputs
decode without crashing."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_transformer import ModelConfig, Transformer
from tf_transformer.config import END_ID, PAD_ID, START_ID
from tf_transformer.decoding import (
    BatchDecoder,
    TruncationWarning,
    filter_logits,
    greedy_decode,
    length_penalty,
    make_decode_fn,
    sample_decode,
)
from tf_transformer.errors import ConfigError

TARGET_VOCAB = 12
MAX_LENGTH = 64  # the tiny preset's
EXTRA = 50  # default max_extra_length
ROUNDED_VOCAB, ROUNDED_NUM_TOKENS = 16, 11  # a target vocabulary of 11 real ids rounded up to 16


def _random_model(seed, output_bias):
    """A tiny untied random Transformer (source vocabulary 20) whose output bias is `output_bias` [V]."""
    keras.utils.set_random_seed(seed)
    config = ModelConfig.preset("tiny", source_vocab_size=20, target_vocab_size=len(output_bias), dropout=0.0,
                                tie_output=False)
    model = Transformer(config)
    model.build()
    model.output_projection.bias.assign(output_bias)
    return model


@pytest.fixture(scope="module")
def model():
    """A tiny random model whose [END] logit is raised so that some rows end early and others run to the limit."""
    bias = np.zeros(TARGET_VOCAB, "float32")
    bias[END_ID] = 0.5  # with seed 0: four rows end early, three run to their limit
    return _random_model(0, bias)


@pytest.fixture(scope="module", params=[False, True], ids=["graph", "xla"])
def decoders(model, request):
    """One traced function per method, shared by the tests (tracing is the expensive part); every property below
    holds for the plain graph and for the XLA-compiled search."""
    jit = request.param
    return {"greedy": make_decode_fn(model, "greedy", jit_compile=jit),
            "beam1": make_decode_fn(model, "beam", beam_size=1, jit_compile=jit),
            "beam4": make_decode_fn(model, "beam", beam_size=4, n_best=4, jit_compile=jit)}


@pytest.fixture(scope="module")
def sources():
    """int32 [8, 11]: right-padded sources of lengths 11, 9, 7, 5, 3, 2, 1 and one of only padding."""
    rng = np.random.default_rng(1)
    ids = rng.integers(4, 20, (8, 11)).astype("int32")
    for row, length in enumerate([11, 9, 7, 5, 3, 2, 1, 0]):
        ids[row, length:] = PAD_ID
    return ids


def _strip(tokens):
    """The real tokens of one output row: up to and including [END], or every non-zero token."""
    tokens = list(np.asarray(tokens))
    length = len(tokens) - next((i for i, t in enumerate(reversed(tokens)) if t != PAD_ID), len(tokens))
    return tokens[:length]


def _teacher_forced(model, sources, token_lists):
    """Per hypothesis: (log-probabilities [T, V], logits [T, V]) of the full model fed [START] + tokens[:-1].

    sources: int [N, S], the source of each hypothesis; token_lists: N lists of tokens (one batched model call).
    """
    longest = max(len(tokens) for tokens in token_lists)
    target_in = np.zeros((len(token_lists), longest), "int32")
    for row, tokens in enumerate(token_lists):
        target_in[row, :len(tokens)] = [START_ID] + list(tokens[:-1])
    logits = model({"source_ids": np.asarray(sources, "int32"), "target_ids": target_in})
    log_probs = tf.nn.log_softmax(logits).numpy()
    return [(log_probs[row, :len(tokens)], logits.numpy()[row, :len(tokens)])
            for row, tokens in enumerate(token_lists)]


def _sequence_log_prob(log_probs, tokens):
    return log_probs[np.arange(len(tokens)), tokens].sum()


def _source_length(source):
    return int(np.sum(source != PAD_ID))


def test_cached_greedy_picks_the_argmax_of_a_full_recomputation_at_every_step(model, decoders, sources):
    target_ids, scores = (x.numpy() for x in decoders["greedy"](sources))
    assert not target_ids[-1].any() and scores[-1] == 0.0  # the source of only padding
    token_lists = [_strip(row) for row in target_ids[:-1]]
    ended_early = ran_to_limit = 0
    for source, tokens, score, (log_probs, logits) in zip(sources, token_lists, scores,
                                                           _teacher_forced(model, sources[:-1], token_lists)):
        allowed = logits.copy()
        allowed[:, [PAD_ID, START_ID]] = -np.inf
        np.testing.assert_array_equal(np.argmax(allowed, axis=-1), tokens)
        np.testing.assert_allclose(score, _sequence_log_prob(log_probs, tokens), rtol=1e-4, atol=1e-3)
        assert END_ID not in tokens[:-1]  # each row stops at its own first [END]...
        if tokens[-1] == END_ID:
            ended_early += 1
        else:  # ...or at its own limit: source length + 50, capped by the model
            assert len(tokens) == min(_source_length(source) + EXTRA, MAX_LENGTH)
            ran_to_limit += 1
    assert ended_early and ran_to_limit  # both stopping rules were exercised in this batch


def test_recomputing_the_prefix_gives_the_cached_tokens(model, decoders, sources):
    decode = tf.function(lambda s: greedy_decode(model, s, max_length=12, use_cache=False), autograph=False)
    recomputed_ids, _ = decode(sources)
    cached_ids, _ = decoders["greedy"](sources)
    np.testing.assert_array_equal(recomputed_ids, cached_ids[:, :12])  # greedy prefixes do not depend on the limit


def test_eager_call_equals_the_traced_function(model, decoders, sources):
    eager_ids, _ = greedy_decode(model, sources[:2], max_length=3)
    traced_ids, _ = decoders["greedy"](sources[:2])
    np.testing.assert_array_equal(eager_ids, traced_ids[:, :3])  # greedy's first 3 tokens do not depend on the limit


def test_beam_size_one_equals_greedy(decoders, sources):
    greedy_ids, greedy_scores = (x.numpy() for x in decoders["greedy"](sources))
    beam_ids, beam_scores = (x.numpy() for x in decoders["beam1"](sources))
    assert beam_ids.shape == greedy_ids.shape and beam_scores.shape == greedy_scores.shape  # [B, T], [B]
    np.testing.assert_array_equal(beam_ids, greedy_ids)
    lengths = np.array([len(_strip(row)) for row in greedy_ids])
    np.testing.assert_allclose(beam_scores * length_penalty(lengths, 0.6).numpy(), greedy_scores,
                               rtol=1e-4, atol=1e-3)


def test_n_best_lists_are_sorted_distinct_and_scored_by_teacher_forcing(model, decoders, sources):
    target_ids, scores = (x.numpy() for x in decoders["beam4"](sources))
    assert target_ids.shape[:2] == (8, 4) and scores.shape == (8, 4)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    assert not target_ids[-1].any() and scores[-1, 0] == 0.0  # the source of only padding
    token_lists = [[_strip(h) for h in hypotheses] for hypotheses in target_ids[:-1]]
    assert all(len({tuple(t) for t in hypotheses}) == 4 for hypotheses in token_lists)  # 4 different ones
    flat = [tokens for hypotheses in token_lists for tokens in hypotheses]
    forced = _teacher_forced(model, np.repeat(sources[:-1], 4, axis=0), flat)
    for (log_probs, _), tokens, score, source in zip(forced, flat, scores[:-1].reshape(-1),
                                                     np.repeat(sources[:-1], 4, axis=0)):
        expected = _sequence_log_prob(log_probs, tokens) / ((5 + len(tokens)) / 6) ** 0.6
        np.testing.assert_allclose(score, expected, rtol=1e-4, atol=1e-3)
        assert END_ID not in tokens[:-1]
        assert tokens[-1] == END_ID or len(tokens) == min(_source_length(source) + EXTRA, MAX_LENGTH)


@pytest.mark.parametrize("method", ["greedy", "beam4"])
def test_a_batch_gives_the_same_outputs_as_each_input_alone(decoders, sources, method):
    batch_ids, batch_scores = (x.numpy() for x in decoders[method](sources))
    for row, source in enumerate(sources):
        alone = source[None, :max(_source_length(source), 1)]
        ids, row_scores = (x.numpy() for x in decoders[method](alone))
        if method == "greedy":
            assert _strip(ids[0]) == _strip(batch_ids[row])
        else:
            assert [_strip(h) for h in ids[0]] == [_strip(h) for h in batch_ids[row]]
        np.testing.assert_allclose(row_scores[0], batch_scores[row], rtol=1e-4, atol=1e-4)


def test_new_batch_sizes_and_lengths_never_retrace(model, decoders):
    rng = np.random.default_rng(2)
    for method in ("greedy", "beam4"):
        decode = decoders[method]
        for batch_size, length in [(1, 3), (5, 9), (2, 17), (7, 1), (3, 40), (1, 64), (4, 0)]:
            target_ids, scores = decode(rng.integers(4, 20, (batch_size, length)).astype("int32"))
            assert target_ids.shape[0] == batch_size == scores.shape[0]
        assert decode.experimental_get_tracing_count() == 1


def test_empty_inputs_give_empty_outputs(decoders):
    for method in ("greedy", "beam4"):
        for source in (np.zeros((3, 5), "int32"), np.zeros((2, 0), "int32")):
            target_ids, scores = decoders[method](source)
            assert not np.any(target_ids.numpy())
            assert np.all(scores.numpy()[..., 0] == 0.0) if method == "beam4" else np.all(scores.numpy() == 0.0)


def test_over_long_input_is_truncated_with_a_warning(model, sources):
    decoder = BatchDecoder(model, "greedy", max_length=5)
    long_source = np.random.default_rng(3).integers(4, 20, (2, MAX_LENGTH + 10)).astype("int32")
    with pytest.warns(TruncationWarning, match="truncated to 64"):
        target_ids, _ = decoder(long_source)
    expected, _ = decoder(long_source[:, :MAX_LENGTH])
    np.testing.assert_array_equal(target_ids, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncationWarning)  # padding past the limit is not truncation
        decoder(np.pad(sources[:2], [[0, 0], [0, MAX_LENGTH]]))
    with pytest.warns(TruncationWarning):  # a static over-long shape warns while tracing
        tf.function(lambda s: greedy_decode(model, s, max_length=3)).get_concrete_function(
            tf.TensorSpec([2, MAX_LENGTH + 1], tf.int32))


def test_sampling_is_reproducible_with_a_seed_and_top_1_is_greedy(model, decoders, sources):
    sample = make_decode_fn(model, "sample", seed=7, temperature=1.5)
    (target_ids, scores), (again, _) = sample(sources), sample(sources)
    np.testing.assert_array_equal(target_ids, again)
    token_lists = [_strip(row) for row in target_ids.numpy()[:-1]]
    for tokens, score, (log_probs, _) in zip(token_lists, scores.numpy(),
                                             _teacher_forced(model, sources[:-1], token_lists)):
        np.testing.assert_allclose(score, _sequence_log_prob(log_probs, tokens), rtol=1e-4, atol=1e-3)
    top_1 = make_decode_fn(model, "sample", top_k=1, temperature=0.7)
    np.testing.assert_array_equal(top_1(sources)[0], decoders["greedy"](sources)[0])
    unseeded = tf.function(lambda s: sample_decode(model, s, max_length=20, stop_at_end=False))
    draws = {tuple(unseeded(sources[:1])[0].numpy()[0]) for _ in range(3)}
    assert len(draws) > 1  # without a seed every call draws afresh


@pytest.fixture(scope="module")
def rounded_model():
    """A tiny random model whose vocabulary was rounded up from ROUNDED_NUM_TOKENS real ids to ROUNDED_VOCAB (as
    `round_to_multiple` does), with the highest logits at the ids no search may choose: [PAD], [START] and the
    extra ids."""
    bias = np.zeros(ROUNDED_VOCAB, "float32")
    bias[[PAD_ID, START_ID]] = bias[ROUNDED_NUM_TOKENS:] = 8.0  # far above every real id's logit
    bias[END_ID] = 0.5
    return _random_model(4, bias)


@pytest.mark.parametrize("method, options, jit", [("greedy", {}, False), ("greedy", {}, True),
                                                   ("beam", {"beam_size": 4, "n_best": 4}, False),
                                                   ("sample", {"seed": 1}, False)],
                         ids=["greedy", "greedy-xla", "beam", "sample"])
def test_no_search_emits_ids_past_the_real_vocabulary_or_reserved_ones(rounded_model, sources, method, options,
                                                                        jit):
    options = {**options, "max_length": 20, "stop_at_end": False}  # 20 tokens from every source with tokens
    target_ids, _ = make_decode_fn(rounded_model, method, jit_compile=jit, num_tokens=ROUNDED_NUM_TOKENS,
                                   **options)(sources)
    emitted = target_ids.numpy().reshape(len(sources), -1, target_ids.shape[-1])[:-1]  # [7, hypotheses, 20]
    assert emitted.shape[-1] == 20 and np.all(emitted != PAD_ID) and not np.any(emitted == START_ID)
    assert np.all(emitted < ROUNDED_NUM_TOKENS)
    unmasked_ids, _ = make_decode_fn(rounded_model, method, jit_compile=jit, **options)(sources)
    assert np.any(unmasked_ids.numpy() >= ROUNDED_NUM_TOKENS)  # without num_tokens the extra ids would win


def test_greedy_with_num_tokens_picks_the_argmax_over_the_real_ids(rounded_model, sources):
    target_ids, _ = make_decode_fn(rounded_model, "greedy", num_tokens=ROUNDED_NUM_TOKENS)(sources[:-1])
    token_lists = [_strip(row) for row in target_ids.numpy()]
    for tokens, (_, logits) in zip(token_lists, _teacher_forced(rounded_model, sources[:-1], token_lists)):
        real = logits.copy()
        real[:, [PAD_ID, START_ID]] = real[:, ROUNDED_NUM_TOKENS:] = -np.inf
        np.testing.assert_array_equal(np.argmax(real, axis=-1), tokens)


def test_filter_logits_keeps_the_top_k_and_the_top_p_nucleus():
    logits = tf.math.log(tf.constant([[0.5, 0.25, 0.15, 0.1], [0.1, 0.2, 0.3, 0.4]]))
    kept = lambda x: (x.numpy() > -1e8).astype(int).tolist()  # noqa: E731
    assert kept(filter_logits(logits, top_k=2)) == [[1, 1, 0, 0], [0, 0, 1, 1]]
    assert kept(filter_logits(logits, top_p=0.7)) == [[1, 1, 0, 0], [0, 0, 1, 1]]  # 0.5+0.25 >= 0.7; 0.4+0.3
    assert kept(filter_logits(logits, top_p=0.1)) == [[1, 0, 0, 0], [0, 0, 0, 1]]  # the best token always stays
    assert kept(filter_logits(logits, top_k=3, top_p=0.9)) == [[1, 1, 1, 0], [0, 1, 1, 1]]


def test_bad_options_raise_config_errors(model):
    with pytest.raises(ConfigError, match="n_best"):
        make_decode_fn(model, "beam", beam_size=2, n_best=3)(np.ones((1, 3), "int32"))
    with pytest.raises(ConfigError, match="valid options"):
        make_decode_fn(model, "greedy", beam_size=4)
    with pytest.raises(ConfigError, match="unknown"):
        make_decode_fn(model, "nucleus")
    with pytest.raises(ConfigError, match="temperature"):
        sample_decode(model, np.ones((1, 3), "int32"), temperature=0.0)
    with pytest.raises(ConfigError, match="num_tokens"):
        greedy_decode(model, np.ones((1, 3), "int32"), num_tokens=TARGET_VOCAB + 1)
    with pytest.raises(ConfigError, match="beam_size must be in 1..6"):  # 8 real ids, [PAD] and [START] excluded
        make_decode_fn(model, "beam", beam_size=7, num_tokens=8)(np.ones((1, 3), "int32"))


@pytest.mark.slow
@pytest.mark.parametrize("method, options", [("greedy", {}), ("beam", {"beam_size": 3}), ("sample", {"top_k": 1})])
def test_decode_functions_convert_to_tflite_builtins_and_give_the_same_ids(model, sources, method, options):
    from ai_edge_litert.interpreter import Interpreter

    from tf_transformer.export.tflite import frozen_function

    decode = make_decode_fn(model, method, **options)
    # Variables read inside the while loop must be frozen first (TFLite cannot read resource variables there).
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen_function(decode.get_concrete_function())])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no TF Select (Flex) ops
    interpreter = Interpreter(model_content=converter.convert())
    source = sources[:4]
    (source_input,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(source_input["index"], source.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(source_input["index"], source)
    interpreter.invoke()
    outputs = [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
    (target_ids,) = [o for o in outputs if o.dtype == np.int32]
    (scores,) = [o for o in outputs if o.dtype == np.float32]
    expected_ids, expected_scores = decode(source)
    np.testing.assert_array_equal(target_ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-3)
