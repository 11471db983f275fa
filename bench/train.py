"""Training speed: tokens/s, step time, GFLOP/s and MFU of `model.fit`, ours vs KerasHub and keras-MHA peers.

    python bench/train.py [--shapes small base] [--modes fixed trainer] [--repeats N] [--jit off on] [--spe 1]
                          [--precision float32 bfloat16]

Data: the CMU dictionary's training split, tokenized by the package's char (spelling) and whitespace (phoneme)
tokenizers, as the g2p recipes train on it. Two modes, every contestant measured in the same run, interleaved:

- "fixed": the same --batches batches of --batch pairs drawn at random, each padded to its own longest pair, fed
  with unknown lengths (TensorSpec [B, None], as any padded_batch pipeline feeds them); every model compiled alike
  with Adam(1e-4) and `SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)`, no metrics.
  Contestants: "ours" (`tf_transformer.Transformer`, packed tokens, the default), "ours_unpacked" (the same with
  `pack_tokens=False`: every layer runs on the padded [B, T, d]), "keras_hub" (KerasHub's `TransformerEncoder` /
  `TransformerDecoder` / `TokenAndPositionEmbedding`, bench/keras_hub_transformer.py) and "keras_mha" (the
  TensorFlow tutorial's structure on `keras.layers.MultiHeadAttention`, bench/tutorial_transformer.py), all at the
  shape's d_model / layers / heads / d_ff / dropout 0.1.
- "trainer": what `tf-transformer train` runs. "ours" and "ours_unpacked": the model compiled by
  `trainer.compile_model` (Noam Adam, label-smoothed `MaskedCrossEntropy`, `MaskedAccuracy`, `TokenCount`) on
  `make_dataset`'s length-bucketed batches of --tokens-per-batch tokens (the recipes' pipeline); "keras_hub":
  KerasHub's model with the plain compiled loss on `make_dataset(bucketing=False)`, random batches of the same
  mean token count padded to their longest (how a KerasHub user batches). "ours_distilled": "ours_unpacked" (the
  recipes' `pack_tokens: false`) with `training.teachers`' per-step work: its batches carry top-8 soft targets
  (random stand-ins for the teachers' distributions, whose one pass before training the trainer logs) and the loss
  mixes them in with `distillation_weight` 0.5. The first --batches batches of an epoch are kept and cycled.
  The trainer's callbacks are left out: they act per epoch or every `backup_every_steps` (200) steps.

Tokens/s counts real (non-pad) source tokens plus real target_out tokens. FLOPs are analytic, forward + backward
(= 3 × forward) over real tokens only, ignoring biases, norms, softmax and embedding gathers (width d, feed-forward
width f, target vocabulary V, E encoder and D decoder layers: E = D = num_layers unless num_decoder_layers is set):

    per source token: 6 · (E · (4d² + 2df) + D · 2d²)     encoder layers + the decoder's cross-attention K, V
    per target token: 6 · (D · (6d² + 2df) + dV)          decoder self-attention Q K V O, cross Q O, FFN; softmax
    per sequence:     12 · d · (E · S² + D · (T² + T·S))   scores QKᵀ and weighted values AV (causal not halved)

--precision bfloat16 builds every contestant under Keras' mixed_bfloat16 policy (`training.mixed_precision:
bfloat16`): float32 weights, bfloat16 matmuls, which oneDNN runs on AMX tiles or AVX512_BF16 dot products where the
CPU has them (flags amx_bf16, avx512_bf16) and emulates, slower than float32, where it has neither.

MFU = achieved FLOP/s / the fp32 peak measured in the same run (median of a 2048³ `tf.linalg.matmul` in a
`tf.function`, interleaved with the fits, so that both see the same machine load). One timed call is
`model.fit(dataset, epochs=1, steps_per_epoch=--batches, verbose=0)`; warm-up fits trace every shape first (and
XLA-compile them with --jit on); each time is the median over --repeats. Quote the ratios (ours / peer, same run).
"""

import argparse
import dataclasses
import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import report, time_calls  # noqa: E402
from keras_hub_transformer import KerasHubTransformer  # noqa: E402
from tutorial_transformer import TutorialTransformer  # noqa: E402

from tf_transformer import ModelConfig, Transformer  # noqa: E402
from tf_transformer.config import PAD_ID, DataConfig, TokenizerConfig, TrainingConfig  # noqa: E402
from tf_transformer.data import load_corpus, make_dataset  # noqa: E402
from tf_transformer.data.pipeline import without_autotuning  # noqa: E402
from tf_transformer.distribute import dtype_policy  # noqa: E402
from tf_transformer.text import build_tokenizer  # noqa: E402
from tf_transformer.trainer import compile_model  # noqa: E402

# model sizes of the issue that measured the gap: 3+3 × 256 (the g2p size) and the paper's base; pairs per fixed
# batch (base: fewer, so that the run stays within ~25 minutes on 2 cores)
SHAPES = {
    "small": dict(overrides=dict(d_model=256, num_layers=3, num_heads=4, d_ff=1024), batch=256),
    "base": dict(overrides=dict(d_model=512, num_layers=6, num_heads=8, d_ff=2048), batch=64),
}
CONTESTANTS = ["ours", "ours_unpacked", "ours_distilled", "keras_hub", "keras_mha"]
MAX_LENGTH = 24  # data.max_source_length / max_target_length of g2p_tiny
PEAK_SIZE = 2048
POLICIES = {"float32": None, "bfloat16": "bfloat16"}  # --precision -> training.mixed_precision
COLUMNS = ["shape", "mode", "model", "precision", "jit", "spe", "step_ms", "tokens_per_s", "padding_%",
           "gflops_per_s", "mfu_%", "ours/keras_hub", "ours/keras_mha"]


def train_flops(config, source_lengths, target_lengths):
    """Forward+backward FLOPs of one batch (formula in the module docstring) from real lengths int [B], [B]."""
    d, f, vocab = config.d_model, config.d_ff, config.target_vocab_size
    encoder, decoder = config.num_layers, config.decoder_layers
    source_lengths, target_lengths = np.asarray(source_lengths, np.float64), np.asarray(target_lengths, np.float64)
    per_source_token = 6 * (encoder * (4 * d * d + 2 * d * f) + decoder * 2 * d * d)  # + cross-attention keys/values
    per_target_token = 6 * (decoder * (6 * d * d + 2 * d * f) + d * vocab)
    attention = 12 * d * np.sum(encoder * source_lengths ** 2
                                + decoder * (target_lengths ** 2 + source_lengths * target_lengths))
    return float(per_source_token * source_lengths.sum() + per_target_token * target_lengths.sum() + attention)


def cmudict_data():
    """(training pairs, source tokenizer, target tokenizer) of the CMU dictionary, as the g2p recipes build them."""
    corpus = load_corpus(DataConfig(corpus="cmudict"))
    pairs = corpus.splits["train"]
    source = build_tokenizer(TokenizerConfig(kind="char", lowercase=True, vocab_size=None), [s for s, _ in pairs])
    target = build_tokenizer(TokenizerConfig(kind="whitespace", vocab_size=None), [t for _, t in pairs])
    return pairs, source, target


def cycled(batches):
    """A dataset cycling over a list of ((source, target_in), target_out) numpy batches, with unknown lengths.

    Built from tensors (`from_tensors` + `concatenate`): no Python in the input pipeline. tf.data's autotuning is
    off, as in `make_dataset`: with it, each fit ended by waiting for the tuning thread's next wake-up (fit times
    came out at 20.48 or 40.96 s whatever the steps took).
    """
    dataset = None
    for batch in batches:
        one = tf.data.Dataset.from_tensors(batch)
        dataset = one if dataset is None else dataset.concatenate(one)
    return without_autotuning(dataset.repeat().prefetch(2))


def fixed_dataset(pairs, source_tokenizer, target_tokenizer, batch, count, seed=0):
    """`count` batches of `batch` random pairs, each padded to its longest (make_dataset's unbucketed batches)."""
    chosen = np.random.default_rng(seed).choice(len(pairs), batch * count, replace=False)
    config = DataConfig(corpus="cmudict", max_source_length=MAX_LENGTH, max_target_length=MAX_LENGTH,
                        tokens_per_batch=1 << 30)
    # with a huge budget and no bucketing, make_dataset yields one batch; cut it into fixed-size ones instead
    (source, target_in), target_out = next(iter(make_dataset(
        [pairs[i] for i in chosen], source_tokenizer, target_tokenizer, config, training=False, bucketing=False)))
    batches = []
    for n in range(count):
        rows = slice(n * batch, (n + 1) * batch)
        s, ti, to = source[rows].numpy(), target_in[rows].numpy(), target_out[rows].numpy()
        s_len, t_len = (s != PAD_ID).sum(1).max(), (to != PAD_ID).sum(1).max()
        batches.append(((s[:, :s_len], ti[:, :t_len]), to[:, :t_len]))
    return cycled(batches), batches


class StandInTeachers:
    """`distillation.Teachers`' interface with random top-k distributions: the per-step cost of distillation
    without training teachers for a benchmark."""

    def __init__(self, vocab_size, top_k=8):
        self.vocab_size, self.top_k = vocab_size, top_k

    def soft_targets(self, sources, targets):
        lengths = targets.row_lengths() + 1
        count = int(tf.reduce_sum(lengths))
        rng = np.random.default_rng(0)
        ids = rng.integers(1, self.vocab_size, (count, self.top_k)).astype(np.int32)
        probabilities = rng.dirichlet(np.ones(self.top_k), count).astype(np.float32)
        return (tf.RaggedTensor.from_row_lengths(ids, lengths),
                tf.RaggedTensor.from_row_lengths(probabilities, lengths))


def build_model(kind, config):
    keras.utils.set_random_seed(0)
    if kind.startswith("ours"):
        model = Transformer(dataclasses.replace(config, pack_tokens=kind == "ours"))
        model.build()
        return model
    model = (KerasHubTransformer if kind == "keras_hub" else TutorialTransformer)(config)
    ids = np.ones((1, 2), np.int32)
    model((ids, ids))
    return model


def plain_compile(model, jit, spe):
    """The peers' compile: what a Keras user writes."""
    model.compile(optimizer=keras.optimizers.Adam(1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID),
                  jit_compile=jit, steps_per_execution=spe)
    return model


def batch_statistics(config, batches):
    """(real tokens, padding fraction, FLOPs) of a list of ((source, target_in), target_out) numpy batches."""
    real = total = flops = 0.0
    for (source, _), labels in batches:
        target_out = labels["target"] if isinstance(labels, dict) else labels  # distillation's labels are a dict
        source_lengths, target_lengths = (source != PAD_ID).sum(1), (target_out != PAD_ID).sum(1)
        real += source_lengths.sum() + target_lengths.sum()
        total += source.size + target_out.size
        flops += train_flops(config, source_lengths, target_lengths)
    return real, 1.0 - real / total, flops


def matmul_peak_fn(size=PEAK_SIZE):
    """A callable running one size³ fp32 matmul in a tf.function (and waiting for it); its FLOPs are 2·size³."""
    a, b = tf.random.normal((size, size)), tf.random.normal((size, size))
    matmul = tf.function(lambda a, b: tf.reduce_sum(tf.linalg.matmul(a, b)))
    return lambda: matmul(a, b).numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--modes", nargs="+", default=["fixed", "trainer"], choices=["fixed", "trainer"])
    parser.add_argument("--models", nargs="+", default=list(CONTESTANTS), choices=list(CONTESTANTS),
                        help="contestants (ours_distilled runs in the trainer mode only, keras_mha in the fixed "
                             "mode only)")
    parser.add_argument("--jit", nargs="+", default=["off"], choices=["off", "on"])
    parser.add_argument("--spe", nargs="+", type=int, default=[1], help="steps_per_execution values")
    parser.add_argument("--precision", nargs="+", default=["float32"], choices=list(POLICIES),
                        help="compute dtypes (bfloat16: Keras' mixed_bfloat16 policy)")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits per contestant")
    parser.add_argument("--batches", type=int, default=8, help="distinct batches per timed fit (cycled)")
    parser.add_argument("--tokens-per-batch", type=int, default=4096, help="trainer mode's data.tokens_per_batch")
    parser.add_argument("--name", default="train", help="results go to bench/results/NAME.json")
    args = parser.parse_args()
    if any(args.batches % spe for spe in args.spe):
        parser.error("--batches must be a multiple of every --spe")

    variants = list(itertools.product(args.precision, args.jit, args.spe))
    pairs, source_tokenizer, target_tokenizer = cmudict_data()
    rows, extra = [], {"what": __doc__.split("\n\n")[2], "shapes": {}, "oneDNN": _onednn_enabled()}
    for shape_name in args.shapes:
        shape = SHAPES[shape_name]
        config = ModelConfig.preset("base", **shape["overrides"], source_vocab_size=source_tokenizer.vocab_size,
                                    target_vocab_size=target_tokenizer.vocab_size, max_length=MAX_LENGTH + 8)
        functions, models, data = {"peak": matmul_peak_fn()}, {}, {}
        if "fixed" in args.modes:
            dataset, batches = fixed_dataset(pairs, source_tokenizer, target_tokenizer, shape["batch"], args.batches)
            data["fixed"] = batch_statistics(config, batches)
            for kind, (precision, jit, spe) in itertools.product(args.models, variants):
                if kind == "ours_distilled":  # the recipes' loss and batches only: trainer mode
                    continue
                with dtype_policy(POLICIES[precision]):
                    models[("fixed", kind, precision, jit, spe)] = (
                        plain_compile(build_model(kind, config), jit == "on", spe), dataset)
        if "trainer" in args.modes:
            data_config = DataConfig(corpus="cmudict", max_source_length=MAX_LENGTH, max_target_length=MAX_LENGTH,
                                     tokens_per_batch=args.tokens_per_batch)
            for kind, bucketing in (("ours", True), ("ours_unpacked", True), ("ours_distilled", True),
                                    ("keras_hub", False)):
                if kind not in args.models:
                    continue
                teachers = StandInTeachers(target_tokenizer.vocab_size) if kind == "ours_distilled" else None
                batches = list(make_dataset(pairs, source_tokenizer, target_tokenizer, data_config,
                                            bucketing=bucketing, teachers=teachers)
                               .take(args.batches).as_numpy_iterator())
                dataset = cycled(batches)
                data[("trainer", kind)] = batch_statistics(config, batches)
                for precision, jit, spe in variants:
                    with dtype_policy(POLICIES[precision]):
                        model = build_model(kind, config)
                        if kind.startswith("ours"):
                            compile_model(model, TrainingConfig(warmup_steps=4000, jit_compile=jit == "on",
                                                                steps_per_execution=spe,
                                                                distillation_weight=0.5 if teachers else 0.0))
                        else:
                            plain_compile(model, jit == "on", spe)
                    models[("trainer", kind, precision, jit, spe)] = (model, dataset)
        for key, (model, dataset) in models.items():
            functions[key] = (lambda m, d: lambda: m.fit(d, epochs=1, steps_per_epoch=args.batches, verbose=0))(
                model, dataset)
        print(f"{shape_name}: {config.d_model=} {config.num_layers=} {config.decoder_layers=}; "
              f"{ {key[1]: m.count_params() for key, (m, _) in models.items()} } parameters", flush=True)
        seconds = time_calls(functions, repeats=args.repeats, warmup=1)  # warm-up: every batch shape traced
        peak = 2 * PEAK_SIZE ** 3 / seconds.pop("peak")
        extra["shapes"][shape_name] = {"config": config.to_dict(), "fixed_batch": shape["batch"],
                                       "peak_gflops": peak / 1e9}
        shape_rows = []
        for (mode, kind, precision, jit, spe), time in seconds.items():
            real, padding, flops = data[mode] if mode == "fixed" else data[(mode, kind)]
            shape_rows.append({"shape": shape_name, "mode": mode, "model": kind, "precision": precision,
                               "jit": jit, "spe": spe,
                               "step_ms": time / args.batches * 1e3, "tokens_per_s": real / time,
                               "padding_%": 100 * padding, "gflops_per_s": flops / time / 1e9,
                               "mfu_%": 100 * flops / time / peak})
        for row in shape_rows:
            for peer in ("keras_hub", "keras_mha"):
                match = [r for r in shape_rows if r["model"] == peer and all(
                    r[column] == row[column] for column in ("mode", "precision", "jit", "spe"))]
                row[f"ours/{peer}"] = (row["tokens_per_s"] / match[0]["tokens_per_s"]
                                       if row["model"].startswith("ours") and match else "")
            print(row, flush=True)
        rows += shape_rows
        del models, functions
        keras.backend.clear_session()
        report(args.name, COLUMNS, rows, extra)  # after each shape: an interrupted run keeps what it measured


def _onednn_enabled():
    from tensorflow.python.util import _pywrap_util_port  # the flag TensorFlow's own start-up message reads

    return bool(_pywrap_util_port.IsMklEnabled())


if __name__ == "__main__":
    main()
