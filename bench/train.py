"""Training speed: tokens/s and MFU of `model.fit`, ours vs a keras.layers.MultiHeadAttention baseline.

    python bench/train.py [--shapes g2p_tiny transformer_base] [--repeats N] [--jit off on] [--spe 1 32]

Contestants, per model shape, all measured in one run with the same data, loss and optimizer:
- "ours": `tf_transformer.Transformer` compiled as the trainer compiles it (`default_optimizer` (Adam on the Noam
  schedule), `MaskedCrossEntropy(0.1)`, metrics `MaskedAccuracy` and `TokenCount`);
- "tutorial": bench/tutorial_transformer.py, the post-LN model of TensorFlow's Transformer tutorial built from
  `keras.layers.MultiHeadAttention`, at the same d_model / layers / heads / d_ff / dropout, compiled the same way;
each with `jit_compile` off and on and `steps_per_execution` 1 and 32. One timed call is
`model.fit(dataset, epochs=1, steps_per_epoch=--steps, verbose=0)` on a tf.data dataset of
((source_ids, target_in), target_out) batches of random ids (4 ≤ id < vocabulary size) whose lengths are drawn
uniformly from the shape's range and padded to its longest (the padding a length-bucketed batch has); the
dataset cycles over --distinct batches, which divides --steps, so every call sees the same tokens. Warm-up fits
(tracing and XLA compilation) are excluded; calls of all contestants are interleaved per repeat (bench/common.py)
and each time is the median over --repeats (5 for g2p_tiny, 2 for transformer_base).

Tokens/s counts real (non-pad) source tokens plus real target_out tokens. FLOPs are counted analytically from the
config, forward + backward (= 3 × forward) over real tokens only, ignoring biases, norms, softmax and embeddings
gathers (for L layers, width d, feed-forward width f, target vocabulary V):

    per source token: 6 · L · (4d² + 2df  +  2d²)     encoder layer + the decoder's cross-attention K, V
    per target token: 6 · (L · (6d² + 2df) + dV)     decoder self-attention Q K V O, cross Q O, FFN; output softmax
    per sequence:     12 · L · d · (S² + T² + T·S)   scores QKᵀ and weighted values AV (causal not halved)

i.e. ~6 × parameters-in-matmuls per token plus the attention terms. MFU = achieved FLOP/s / the fp32 peak
measured in the same run (median of a 2048³ `tf.linalg.matmul` in a `tf.function`, interleaved with the fits,
so both see the same machine load). Ratios (ours / tutorial at the same jit and steps_per_execution) are the
numbers to quote on a shared machine.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import report, time_calls  # noqa: E402
from tutorial_transformer import TutorialTransformer  # noqa: E402

from tf_transformer import ModelConfig, Transformer  # noqa: E402
from tf_transformer.config import END_ID, START_ID  # noqa: E402
from tf_transformer.losses import MaskedAccuracy, MaskedCrossEntropy, TokenCount  # noqa: E402
from tf_transformer.schedules import default_optimizer  # noqa: E402

# lengths: (shortest, longest) real tokens, the target's counting [START] / [END]; batch: pairs per step
# (g2p_tiny: tokens_per_batch 4096 // (2 · 12), as the pipeline sizes a bucket of length 12; transformer_base:
# a small batch so that the whole bench stays within ~10 minutes on 2 cores); steps per timed fit; repeats.
SHAPES = {
    "g2p_tiny": dict(preset="tiny", overrides=dict(source_vocab_size=40, target_vocab_size=72, max_length=32),
                     source_lengths=(8, 12), target_lengths=(8, 12), batch=170, steps=32, repeats=5),
    "transformer_base": dict(preset="base", overrides=dict(source_vocab_size=8000, target_vocab_size=8000,
                                                           share_embeddings=True, max_length=256),
                             source_lengths=(25, 30), target_lengths=(25, 30), batch=2, steps=32, repeats=2),
}
PEAK_SIZE = 2048
COLUMNS = ["shape", "model", "jit_compile", "steps_per_execution", "step_ms", "tokens_per_s", "gflops_per_s", "mfu_%",
           "peak_gflops_per_s", "ours/tutorial", "vs jit=off spe=1"]


def train_flops(config, source_lengths, target_lengths):
    """Forward+backward FLOPs of one batch (formula in the module docstring) from real lengths int [B], [B]."""
    d, f, layers, vocab = config.d_model, config.d_ff, config.num_layers, config.target_vocab_size
    source_lengths, target_lengths = np.asarray(source_lengths, np.float64), np.asarray(target_lengths, np.float64)
    per_source_token = 6 * layers * (4 * d * d + 2 * d * f + 2 * d * d)
    per_target_token = 6 * (layers * (6 * d * d + 2 * d * f) + d * vocab)
    attention = 12 * layers * d * np.sum(source_lengths ** 2 + target_lengths ** 2 + source_lengths * target_lengths)
    return float(per_source_token * source_lengths.sum() + per_target_token * target_lengths.sum() + attention)


def make_batches(config, shape, distinct, rng):
    """`distinct` padded batches of random ids and their real lengths.

    Returns:
        (source_ids int32 [N, B, S], target_in [N, B, T], target_out [N, B, T]), source lengths [N, B],
        target lengths [N, B] (of target_out, [END] included).
    """
    batch, (s_low, s_high), (t_low, t_high) = shape["batch"], shape["source_lengths"], shape["target_lengths"]
    source = np.zeros((distinct, batch, s_high), np.int32)
    target_in = np.zeros((distinct, batch, t_high), np.int32)
    target_out = np.zeros((distinct, batch, t_high), np.int32)
    source_lengths = rng.integers(s_low, s_high + 1, (distinct, batch))
    target_lengths = rng.integers(t_low, t_high + 1, (distinct, batch))
    for n in range(distinct):
        for b in range(batch):
            s, t = source_lengths[n, b], target_lengths[n, b]
            source[n, b, :s] = rng.integers(4, config.source_vocab_size, s)
            words = rng.integers(4, config.target_vocab_size, t - 1)
            target_in[n, b, :t] = np.concatenate([[START_ID], words])
            target_out[n, b, :t] = np.concatenate([words, [END_ID]])
    return (source, target_in, target_out), source_lengths, target_lengths


def compile_model(kind, config, jit_compile, steps_per_execution):
    """A built model ("ours" or "tutorial") compiled as tf_transformer/trainer.py compiles ours."""
    if kind == "ours":
        model = Transformer(config)
        model.build()
    else:
        model = TutorialTransformer(config)
        ids = np.ones((1, 2), np.int32)
        model((ids, ids))
    model.compile(optimizer=default_optimizer(config.d_model, 4000), loss=MaskedCrossEntropy(0.1),
                  metrics=[MaskedAccuracy(), TokenCount()], steps_per_execution=steps_per_execution,
                  jit_compile=jit_compile)
    return model


def matmul_peak_fn(size=PEAK_SIZE):
    """A callable running one size³ fp32 matmul in a tf.function (and waiting for it); its FLOPs are 2·size³."""
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    matmul = tf.function(lambda a, b: tf.reduce_sum(tf.linalg.matmul(a, b)))
    return lambda: matmul(a, b).numpy()


def _fit_fn(model, dataset, steps):
    return lambda: model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--models", nargs="+", default=["ours", "tutorial"], choices=["ours", "tutorial"])
    parser.add_argument("--jit", nargs="+", default=["off", "on"], choices=["off", "on"])
    parser.add_argument("--spe", nargs="+", type=int, default=[1, 32], help="steps_per_execution values")
    parser.add_argument("--repeats", type=int, default=None, help="timed fits per contestant (default: the shape's)")
    parser.add_argument("--steps", type=int, default=None, help="steps per timed fit (default: the shape's)")
    parser.add_argument("--batch", type=int, default=None, help="pairs per batch (default: the shape's)")
    parser.add_argument("--distinct", type=int, default=8, help="distinct batches the dataset cycles over")
    parser.add_argument("--dropout", type=float, default=None, help="override the preset's dropout (0.1)")
    parser.add_argument("--name", default="train", help="results go to bench/results/NAME.json")
    args = parser.parse_args()

    rows, extra = [], {"shapes": {}, "what": __doc__.split("\n\n")[2]}
    for shape_name in args.shapes:
        shape = dict(SHAPES[shape_name])
        shape["batch"] = args.batch or shape["batch"]
        steps = args.steps or shape["steps"]
        if steps % args.distinct or any(steps % spe for spe in args.spe):
            parser.error(f"--steps {steps} must be a multiple of --distinct and of every --spe")
        keras.utils.set_random_seed(0)
        config = ModelConfig.preset(shape["preset"], **shape["overrides"],
                                    **({} if args.dropout is None else {"dropout": args.dropout}))
        (source, target_in, target_out), source_lengths, target_lengths = make_batches(
            config, shape, args.distinct, np.random.default_rng(0))
        dataset = tf.data.Dataset.from_tensor_slices(((source, target_in), target_out)).repeat().prefetch(2)
        cycles = steps // args.distinct
        tokens = cycles * float(source_lengths.sum() + target_lengths.sum())
        flops = cycles * sum(train_flops(config, s, t) for s, t in zip(source_lengths, target_lengths))
        padding = 1.0 - (source_lengths.sum() + target_lengths.sum()) / (source.size + target_out.size)

        functions, models, params = {"peak": matmul_peak_fn()}, {}, {}
        for kind in args.models:
            for jit in args.jit:
                for spe in args.spe:
                    name = f"{kind} jit={jit} spe={spe}"
                    model = compile_model(kind, config, jit == "on", spe)
                    models[name], params[kind] = model, model.count_params()
                    functions[name] = _fit_fn(model, dataset, steps)
        print(f"{shape_name}: {config.d_model=} {config.num_layers=} batch {shape['batch']}, {steps} steps per "
              f"fit, {tokens / steps:.0f} real tokens per step ({padding:.0%} padding), "
              f"{flops / tokens / 1e6:.1f} MFLOP per token; parameters {params}", flush=True)
        functions["peak"]()
        for model in models.values():  # warm-up: trace (and XLA-compile) each train function, run 2 steps
            model.fit(dataset.take(2), epochs=1, verbose=0)  # a finite dataset ends an execution early
        seconds = time_calls(functions, repeats=args.repeats or shape["repeats"], warmup=0)
        peak = 2 * PEAK_SIZE ** 3 / seconds.pop("peak")
        extra["shapes"][shape_name] = {
            "config": config.to_dict(), "batch": shape["batch"], "steps_per_fit": steps,
            "source_lengths": shape["source_lengths"], "target_lengths": shape["target_lengths"],
            "real_tokens_per_step": tokens / steps, "padding_fraction": padding, "flops_per_token": flops / tokens,
            "parameters": params, "peak_gflops": peak / 1e9}
        for name, time in seconds.items():
            kind, jit, spe = name.split()
            baseline = seconds.get(f"tutorial {jit} {spe}")
            rows.append({"shape": shape_name, "model": kind, "jit_compile": jit.split("=")[1],
                         "steps_per_execution": int(spe.split("=")[1]), "step_ms": time / steps * 1e3,
                         "tokens_per_s": tokens / time, "gflops_per_s": flops / time / 1e9,
                         "mfu_%": 100 * flops / time / peak, "peak_gflops_per_s": peak / 1e9,
                         "ours/tutorial": baseline / time if kind == "ours" and baseline else "",
                         "vs jit=off spe=1": seconds[f"{kind} jit=off spe=1"] / time
                         if f"{kind} jit=off spe=1" in seconds else ""})
            print(rows[-1], flush=True)
        del models, functions
        keras.backend.clear_session()
        # after each shape, so that a long run interrupted later keeps what it measured
        report(args.name, COLUMNS, rows, extra)


if __name__ == "__main__":
    main()
