"""Decoding speed: output tokens/s of cached decoding vs recomputing the whole prefix every step.

    python bench/decode.py [--repeats 3] [--shapes g2p_tiny transformer_base] [--batches 1 32]

For each model shape (random weights; `g2p_tiny` = tiny preset with 60-token vocabularies, `transformer_base` =
base preset with 8000-token vocabularies), greedy and beam-4 decoding at batch 1 and 32 produce exactly 64 output
tokens per source ([END] ignored, so both variants do the same number of steps) from sources of --source-length
tokens. "cached" is `make_decode_fn(model, method)`: encoder once, cross-attention keys/values once, one token per
step through the static KV cache, run as a TensorFlow graph. "cached XLA" is the same with `jit_compile=True` (the
whole search compiled by XLA). "recompute" is the graph function with `use_cache=False`: every step calls the whole
model (encoder included) on the growing prefix, the TensorFlow tutorial's loop. Output tokens/s counts the 64 tokens
of each source's best hypothesis (beams are not counted). Tracing and XLA compilation are excluded (one call first);
each time is the best of --repeats runs (one run where a single run takes longer than --budget seconds). Ratios are
against recompute in the same run.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import report  # noqa: E402

from tf_transformer import ModelConfig, Transformer  # noqa: E402
from tf_transformer.decoding import make_decode_fn  # noqa: E402

OUTPUT_TOKENS = 64
SHAPES = {
    "g2p_tiny": dict(preset="tiny", vocab_size=60, source_length=10),
    "transformer_base": dict(preset="base", vocab_size=8000, source_length=24),
}
METHODS = {"greedy": ("greedy", {}), "beam-4": ("beam", {"beam_size": 4})}
VARIANTS = {"cached": {}, "cached_xla": {"jit_compile": True}, "recompute": {"use_cache": False}}


def _best_time(function, source, repeats, budget):
    """Best wall seconds of function(source) over up to `repeats` runs (stops early past `budget` seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        target_ids, _ = function(source)
        target_ids.numpy()
        times.append(time.perf_counter() - start)
        if sum(times) > budget:
            break
    assert target_ids.shape[-1] == OUTPUT_TOKENS, target_ids.shape
    return min(times), len(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=20.0, help="stop repeating after this many seconds")
    args = parser.parse_args()
    rows = []
    for shape_name in args.shapes:
        shape = SHAPES[shape_name]
        keras.utils.set_random_seed(0)
        config = ModelConfig.preset(shape["preset"], source_vocab_size=shape["vocab_size"],
                                    target_vocab_size=shape["vocab_size"], dropout=0.0)
        model = Transformer(config)
        model.build()
        rng = np.random.default_rng(0)
        for method_name, (method, options) in METHODS.items():
            functions = {name: make_decode_fn(model, method, max_length=OUTPUT_TOKENS, stop_at_end=False,
                                              **variant, **options) for name, variant in VARIANTS.items()}
            for batch in args.batches:
                source = tf.constant(rng.integers(4, shape["vocab_size"], (batch, shape["source_length"])),
                                     tf.int32)
                row = {"shape": shape_name, "method": method_name, "batch": batch}
                for key, function in functions.items():
                    function(source)  # trace (and compile) outside the timing
                    seconds, runs = _best_time(function, source, args.repeats, args.budget)
                    row[f"{key}_tokens_per_s"] = batch * OUTPUT_TOKENS / seconds
                    row[f"{key}_runs"] = runs
                for key in ("cached", "cached_xla"):
                    row[f"{key}/recompute"] = row[f"{key}_tokens_per_s"] / row["recompute_tokens_per_s"]
                rows.append(row)
                print(row, flush=True)
    report("decode", ["shape", "method", "batch", "cached_tokens_per_s", "cached_xla_tokens_per_s",
                      "recompute_tokens_per_s", "cached/recompute", "cached_xla/recompute"], rows,
           {"output_tokens": OUTPUT_TOKENS, "shapes": SHAPES, "what": __doc__.split("\n\n")[2]})


if __name__ == "__main__":
    main()
