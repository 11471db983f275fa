"""Decoding speed: output tokens/s of cached decoding vs recomputing the whole prefix every step.

    python bench/decode.py [--repeats 3] [--shapes g2p_tiny transformer_base] [--batches 1 32]
    python bench/decode.py --shapes g2p g2p_5+1      # equal depths against a deep encoder and shallow decoder
    python bench/decode.py --shapes g2p g2p_x2       # one model against an ensemble of two (`ensemble.Ensemble`)

For each model shape (random weights), greedy and beam-4 decoding at batch 1 and 32 produce exactly the shape's
number of output tokens per source ([END] ignored, so every variant does the same number of steps) from sources of
its source length:

| shape | model | vocabularies | source / output tokens |
| --- | --- | --- | --- |
| g2p_tiny | tiny preset (2+2 × 64) | 60 | 10 / 64 |
| g2p | g2p.yaml's 3+3 layers × 192 | 60 | 10 / 12 (a long word's phonemes) |
| g2p_5+1 | the same width, 5 encoder layers and 1 decoder layer (`num_decoder_layers`) | 60 | 10 / 12 |
| g2p_x2 | two g2p models (other random weights) as one `Ensemble`: what a repeated `--run-dir` decodes | 60 | 10 / 12 |
| transformer_base | base preset (6+6 × 512) | 8000 | 24 / 64 |

"cached" is `make_decode_fn(model, method)`: encoder once, cross-attention keys/values once, one token per
step through the static KV cache, run as a TensorFlow graph. "cached XLA" is the same with `jit_compile=True` (the
whole search compiled by XLA). "recompute" is the graph function with `use_cache=False`: every step calls the whole
model (encoder included) on the growing prefix, the TensorFlow tutorial's loop. Output tokens/s counts the output tokens
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
from tf_transformer.ensemble import Ensemble  # noqa: E402

G2P = dict(d_model=192, d_ff=768, num_heads=4)  # g2p.yaml's width
SHAPES = {
    "g2p_tiny": dict(preset="tiny", vocab_size=60, source_length=10, output_length=64),
    "g2p": dict(preset="base", overrides=dict(G2P, num_layers=3), vocab_size=60, source_length=10,
                output_length=12),
    "g2p_5+1": dict(preset="base", overrides=dict(G2P, num_layers=5, num_decoder_layers=1), vocab_size=60,
                    source_length=10, output_length=12),
    "g2p_x2": dict(preset="base", overrides=dict(G2P, num_layers=3), vocab_size=60, source_length=10,
                   output_length=12, members=2),
    "transformer_base": dict(preset="base", vocab_size=8000, source_length=24, output_length=64),
}
METHODS = {"greedy": ("greedy", {}), "beam-4": ("beam", {"beam_size": 4})}
VARIANTS = {"cached": {}, "cached_xla": {"jit_compile": True}, "recompute": {"use_cache": False}}


def _best_time(function, source, repeats, budget, output_length):
    """Best wall seconds of function(source) over up to `repeats` runs (stops early past `budget` seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        target_ids, _ = function(source)
        target_ids.numpy()
        times.append(time.perf_counter() - start)
        if sum(times) > budget:
            break
    assert target_ids.shape[-1] == output_length, target_ids.shape
    return min(times), len(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["g2p_tiny", "transformer_base"], choices=list(SHAPES))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=20.0, help="stop repeating after this many seconds")
    args = parser.parse_args()
    rows = []
    for shape_name in args.shapes:
        shape = SHAPES[shape_name]
        config = ModelConfig.preset(shape["preset"], source_vocab_size=shape["vocab_size"],
                                    target_vocab_size=shape["vocab_size"], dropout=0.0, **shape.get("overrides", {}))
        members = []
        for seed in range(shape.get("members", 1)):
            keras.utils.set_random_seed(seed)
            members.append(Transformer(config))
            members[-1].build()
        model = members[0] if len(members) == 1 else Ensemble(members)
        rng = np.random.default_rng(0)
        for method_name, (method, options) in METHODS.items():
            functions = {name: make_decode_fn(model, method, max_length=shape["output_length"], stop_at_end=False,
                                              **variant, **options) for name, variant in VARIANTS.items()}
            for batch in args.batches:
                source = tf.constant(rng.integers(4, shape["vocab_size"], (batch, shape["source_length"])),
                                     tf.int32)
                row = {"shape": shape_name, "method": method_name, "batch": batch}
                for key, function in functions.items():
                    function(source)  # trace (and compile) outside the timing
                    seconds, runs = _best_time(function, source, args.repeats, args.budget, shape["output_length"])
                    row[f"{key}_tokens_per_s"] = batch * shape["output_length"] / seconds
                    row[f"{key}_runs"] = runs
                for key in ("cached", "cached_xla"):
                    row[f"{key}/recompute"] = row[f"{key}_tokens_per_s"] / row["recompute_tokens_per_s"]
                rows.append(row)
                print(row, flush=True)
    report("decode", ["shape", "method", "batch", "cached_tokens_per_s", "cached_xla_tokens_per_s",
                      "recompute_tokens_per_s", "cached/recompute", "cached_xla/recompute"], rows,
           {"shapes": SHAPES, "what": __doc__.split("\n\n")[2]})


if __name__ == "__main__":
    main()
