"""Benchmark of the data pipeline: examples/s and padding with and without length buckets.

    python bench/data.py [--corpus cmudict|ding] [--limit N] [--epochs 2]

For each corpus: tokenizers are built on the training split, then `make_dataset` (length buckets, the default) is
compared in the same run with two baselines: fixed-size batches of the same mean real-token count (`bucketing=False`)
and the textbook per-element tf.data pipeline (unbatch, filter, map, shuffle, `bucket_by_sequence_length`).
Reports set-up time (tokenization), examples/s per epoch, the padding fraction (padded / all source + target_in
tokens) and tokens per batch. Prints a table and writes bench/results/data.json.
"""

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_transformer.config import END_ID, START_ID, DataConfig, TokenizerConfig  # noqa: E402
from tf_transformer.data import load_corpus, make_dataset  # noqa: E402
from tf_transformer.data.pipeline import bucket_boundaries, padding_statistics  # noqa: E402
from tf_transformer.text import build_tokenizer  # noqa: E402

TOKENIZERS = {"cmudict": ("char", "whitespace", None), "ding": ("wordpiece", "wordpiece", 8000)}


def per_element_pipeline(pairs, source_tokenizer, target_tokenizer, config):
    """The textbook pipeline: tokenize in batches, unbatch, then per-element filter/map/shuffle/bucket."""
    max_source, max_target = config.max_source_length, config.max_target_length - 1
    texts = tf.data.Dataset.from_tensor_slices(([s for s, _ in pairs], [t for _, t in pairs]))
    dataset = (texts.batch(4096).map(lambda s, t: (source_tokenizer.tokenize(s), target_tokenizer.tokenize(t)))
               .unbatch().cache()
               .filter(lambda s, t: (tf.size(s) <= max_source) & (tf.size(t) <= max_target))
               .map(lambda s, t: (tf.convert_to_tensor(s), tf.concat([[START_ID], t], 0), tf.concat([t, [END_ID]], 0)))
               .shuffle(config.shuffle_buffer, seed=config.seed))
    boundaries = bucket_boundaries(max(max_source, max_target + 1))
    sizes = [max(1, config.tokens_per_batch // (2 * b)) for b in boundaries]
    dataset = dataset.bucket_by_sequence_length(
        lambda s, ti, to: tf.maximum(tf.size(s), tf.size(ti)), [b + 1 for b in boundaries[:-1]], sizes)
    return dataset.map(lambda s, ti, to: ((s, ti), to)).prefetch(tf.data.AUTOTUNE)


def measure(name, build, pairs_count, epochs):
    start = time.perf_counter()
    dataset = build()
    setup = time.perf_counter() - start
    rates, stats = [], None
    for _ in range(epochs):
        start = time.perf_counter()
        stats = padding_statistics(dataset)
        rates.append(stats["pairs"] / (time.perf_counter() - start))
    return {"pipeline": name, "pairs": stats["pairs"], "setup_s": setup, "examples_per_s_epoch1": rates[0],
            "examples_per_s_later": float(np.mean(rates[1:])) if len(rates) > 1 else rates[0],
            "padding_fraction": stats["padding_fraction"], "batches": stats["batches"],
            "tokens_per_batch_mean": stats["tokens_per_batch_mean"],
            "tokens_per_batch_std": stats["tokens_per_batch_std"]}


def bench_corpus(name, limit, epochs):
    config = DataConfig(corpus=name, limit=limit, max_source_length=64, max_target_length=64, tokens_per_batch=4096)
    corpus = load_corpus(config)
    train = corpus.splits["train"]
    source_kind, target_kind, size = TOKENIZERS[name]
    source = build_tokenizer(TokenizerConfig(kind=source_kind, vocab_size=size), [s for s, _ in train])
    target = build_tokenizer(TokenizerConfig(kind=target_kind, vocab_size=size), [t for _, t in train])
    rows = [measure("make_dataset (buckets)", lambda: make_dataset(train, source, target, config), len(train), epochs),
            measure("make_dataset (no buckets)", lambda: make_dataset(train, source, target, config, bucketing=False),
                    len(train), epochs),
            measure("per-element tf.data", lambda: per_element_pipeline(train, source, target, config), len(train),
                    epochs)]
    for row in rows:
        row["corpus"] = name
        row["speed_vs_buckets"] = row["examples_per_s_later"] / rows[0]["examples_per_s_later"]
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="append", choices=list(TOKENIZERS),
                        help="default: cmudict (+ ding if installed)")
    parser.add_argument("--limit", type=int, default=200_000, help="training pairs per corpus")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    corpora = args.corpus or ["cmudict"] + (["ding"] if os.path.exists("/usr/share/trans/de-en") else [])
    rows = [row for name in corpora for row in bench_corpus(name, args.limit, args.epochs)]
    header = ("corpus", "pipeline", "pairs", "setup s", "ex/s epoch 1", "ex/s later", "× buckets", "padding",
              "tokens/batch")
    print("| " + " | ".join(header) + " |\n|" + " --- |" * len(header))
    for r in rows:
        print(f"| {r['corpus']} | {r['pipeline']} | {r['pairs']:,} | {r['setup_s']:.1f} | "
              f"{r['examples_per_s_epoch1']:,.0f} | {r['examples_per_s_later']:,.0f} | {r['speed_vs_buckets']:.2f} | "
              f"{r['padding_fraction']:.1%} | {r['tokens_per_batch_mean']:,.0f} ± {r['tokens_per_batch_std']:,.0f} |")
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    path = os.path.join(os.path.dirname(__file__), "results", "data.json")
    with open(path, "w", encoding="utf-8") as file:
        json.dump({"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                   "tensorflow": tf.__version__, "python": sys.version.split()[0], "rows": rows}, file, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
