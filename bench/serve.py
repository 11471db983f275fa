"""Serving speed of the exported SavedModel: latency at batch 1 and throughput at batch 32, greedy and beam 4.

    python bench/serve.py [--shapes g2p_tiny transformer_base] [--latency-calls 20] [--repeats 3]

For each model shape (random weights; tokenizers built from a small word list) the model is exported with
`export_saved_model` (beam 4 as serving_default, plus the `greedy` signature), loaded back with
`tf.saved_model.load`, and called the way a server calls it: tf.string [B] in, tf.string [B] out.
    g2p_tiny:         tiny preset, characters -> whitespace tokens (~40 / ~45 ids), 10-letter words,
                      max_extra_length 8 (at most 18 output tokens)
    transformer_base: base preset, whitespace words with 8000-id vocabularies both sides, 16-word sentences,
                      max_extra_length 8 (at most 24 output tokens)
Latency: p50/p95 over --latency-calls single-sentence calls (after 2 warm-up calls; tracing is never timed, the
functions were traced at export). Throughput: sentences/s and output tokens/s at batch 32 (median of --repeats,
`common.time_calls`). Baseline in the same run: `make_decode_fn` in process on the same token ids (ids in, ids
out, no tokenization): "saved/in-process" is the export's throughput relative to it.
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import report, time_calls  # noqa: E402

from tf_transformer import ModelConfig, Transformer  # noqa: E402
from tf_transformer.config import DecodingConfig, TokenizerConfig  # noqa: E402
from tf_transformer.decoding import (
    decoding_method,  # noqa: E402
    make_decode_fn,  # noqa: E402
)
from tf_transformer.export.saved_model import export_saved_model  # noqa: E402
from tf_transformer.text import build_tokenizer  # noqa: E402

LETTERS = "abcdefghijklmnopqrstuvwxyz'-.0123456789"
SHAPES = {
    "g2p_tiny": dict(preset="tiny", max_length=32, max_extra_length=8),
    "transformer_base": dict(preset="base", max_length=256, max_extra_length=8),
}
METHODS = {"greedy": "greedy", "beam-4": "serving_default"}


def _texts(shape_name, count, rng):
    """`count` inputs of the shape's kind, and the (source, target) tokenizers built from a small word list."""
    if shape_name == "g2p_tiny":
        source = build_tokenizer(TokenizerConfig(kind="char", vocab_size=None), [LETTERS])
        target = build_tokenizer(TokenizerConfig(kind="whitespace", vocab_size=None),
                                 [" ".join(f"P{i}" for i in range(41))])
        texts = ["".join(rng.choice(list(LETTERS[:26]), 10)) for _ in range(count)]
    else:
        words = [f"w{i}" for i in range(7996)]
        source = build_tokenizer(TokenizerConfig(kind="whitespace", vocab_size=None), [" ".join(words)])
        target = build_tokenizer(TokenizerConfig(kind="whitespace", vocab_size=None),
                                 [" ".join("v" + w[1:] for w in words)])
        texts = [" ".join(rng.choice(words, 16)) for _ in range(count)]
    return texts, source, target


def _latencies(function, calls, warmup=2):
    """Wall seconds of each of `calls` calls of function() after `warmup` calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return np.array(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--latency-calls", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    rows = []
    rng = np.random.default_rng(0)
    for shape_name in args.shapes:
        shape = SHAPES[shape_name]
        texts, source_tokenizer, target_tokenizer = _texts(shape_name, args.batch, rng)
        keras.utils.set_random_seed(0)
        model = Transformer(ModelConfig.preset(shape["preset"], source_vocab_size=source_tokenizer.vocab_size,
                                               target_vocab_size=target_tokenizer.vocab_size,
                                               max_length=shape["max_length"], dropout=0.0))
        model.build()
        decoding = DecodingConfig(beam_size=4, max_extra_length=shape["max_extra_length"])
        with tempfile.TemporaryDirectory(prefix="bench_serve_") as directory:
            start = time.perf_counter()
            path = export_saved_model(model, source_tokenizer, target_tokenizer, os.path.join(directory, shape_name),
                                      decoding=decoding)
            export_seconds = time.perf_counter() - start
            start = time.perf_counter()
            loaded = tf.saved_model.load(path)
            load_seconds = time.perf_counter() - start
            print(f"{shape_name}: {model.count_params():,} parameters; export {export_seconds:.1f} s, "
                  f"load {load_seconds:.1f} s", flush=True)
            one, batch = tf.constant(texts[:1]), tf.constant(texts)
            ids = source_tokenizer.tokenize(batch).to_tensor()
            for method_name, signature in METHODS.items():
                function = loaded.signatures[signature]
                method, options = ("greedy", {"max_extra_length": decoding.max_extra_length}) \
                    if method_name == "greedy" else decoding_method(decoding)
                in_process = make_decode_fn(model, method, **options)
                in_process.get_concrete_function()
                latency = _latencies(lambda: function(text=one)["translation"].numpy(), args.latency_calls)
                output = function(text=batch)["translation"].numpy()
                tokens = sum(len(text.split()) for text in output)  # both targets are whitespace tokens
                seconds = time_calls({"saved": lambda: function(text=batch)["translation"].numpy(),
                                      "in_process": lambda: in_process(ids)[0].numpy()},
                                     repeats=args.repeats, warmup=1)
                row = {"shape": shape_name, "method": method_name,
                       "p50_ms_batch1": 1000 * float(np.percentile(latency, 50)),
                       "p95_ms_batch1": 1000 * float(np.percentile(latency, 95)),
                       "sentences_per_s_batch32": args.batch / seconds["saved"],
                       "tokens_per_s_batch32": tokens / seconds["saved"],
                       "saved/in-process": seconds["in_process"] / seconds["saved"],
                       "mean_output_tokens": tokens / args.batch,
                       "export_s": export_seconds, "load_s": load_seconds}
                rows.append(row)
                print(row, flush=True)
    report("serve", ["shape", "method", "p50_ms_batch1", "p95_ms_batch1", "sentences_per_s_batch32",
                     "tokens_per_s_batch32", "saved/in-process"], rows,
           {"shapes": SHAPES, "batch": args.batch, "latency_calls": args.latency_calls,
            "what": __doc__.split("\n\n")[2]})


if __name__ == "__main__":
    main()
