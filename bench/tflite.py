"""TFLite speed and size: float32 / dynamic / float16 .tflite files on LiteRT against the SavedModel's greedy
signature, measured in the same run.

    python bench/tflite.py [--run-dir runs/g2p_tiny] [--shapes g2p_tiny base] [--sentences 200] [--batch 64]

Shapes: "g2p_tiny" is the model of --run-dir (the `make demo` run) when given, else the g2p_tiny recipe's shape
with random weights; "base" is the paper's base size (6+6 layers of 512, 8 heads, d_ff 2048) with random weights.
Both use the CMU dictionary's char (spelling) and whitespace (phoneme) tokenizers, and translate the first
--sentences words of the dictionary's test split. For each shape the model is exported as a SavedModel and
converted three times (`tf-transformer tflite` with --quantize none, dynamic, float16); every file then
translates the same words:

- latency: one word per call (batch 1), p50 and p95 over the words, the contestants interleaved word by word;
- throughput: sentences/s translating all the words in batches of --batch (median of --repeats);
- size: the .tflite file, or the SavedModel directory; agreement: the fraction of translations equal to the
  SavedModel's (random weights decode to arbitrary lengths, so only the trained model's agreement says much).

LiteRT runs with as many threads as the machine has cores, as TensorFlow does.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_text  # noqa: E402,F401
from common import report  # noqa: E402

from tf_transformer import ModelConfig, Transformer  # noqa: E402
from tf_transformer.config import DataConfig, TokenizerConfig, load_recipe  # noqa: E402
from tf_transformer.data import load_corpus  # noqa: E402
from tf_transformer.export.litert import LiteRTTranslator  # noqa: E402
from tf_transformer.export.saved_model import export_saved_model  # noqa: E402
from tf_transformer.export.tflite import convert_translator  # noqa: E402
from tf_transformer.text import build_tokenizer  # noqa: E402

RECIPE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "training", "configs", "g2p_tiny.yaml")
SHAPES = {"g2p_tiny": None,  # the recipe's model section
          "base": dict(preset="base", d_model=512, num_layers=6, num_heads=8, d_ff=2048, max_length=64)}
QUANTIZATIONS = ("none", "dynamic", "float16")
COLUMNS = ["shape", "format", "size_MB", "p50_ms", "p95_ms", "batch_sentences_per_s", "agreement_%",
           "p50/saved_model", "throughput/saved_model"]


def load_model(shape_name, run_dir, pairs):
    """(model, source_tokenizer, target_tokenizer, where the weights come from)."""
    if shape_name == "g2p_tiny" and run_dir:
        from tf_transformer.run_dir import load_run

        run = load_run(run_dir)
        return run.model, run.source_tokenizer, run.target_tokenizer, run_dir
    recipe = load_recipe(RECIPE)
    source = build_tokenizer(TokenizerConfig(kind="char", vocab_size=None, lowercase=True), [s for s, _ in pairs])
    target = build_tokenizer(TokenizerConfig(kind="whitespace", vocab_size=None), [t for _, t in pairs])
    keras.utils.set_random_seed(0)
    if SHAPES[shape_name] is None:
        config = recipe.model_config(source.vocab_size, target.vocab_size)
    else:
        overrides = dict(SHAPES[shape_name])
        config = ModelConfig.preset(overrides.pop("preset"), source_vocab_size=source.vocab_size,
                                    target_vocab_size=target.vocab_size, **overrides)
    model = Transformer(config)
    model.build()
    return model, source, target, "random weights"


def directory_size(path):
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--run-dir", help="a trained g2p_tiny run (default: random weights)")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--sentences", type=int, default=200, help="test words translated per contestant")
    parser.add_argument("--batch", type=int, default=64, help="batch size of the throughput measurement")
    parser.add_argument("--repeats", type=int, default=3, help="throughput runs (median)")
    parser.add_argument("--name", default="tflite", help="results go to bench/results/NAME.json")
    args = parser.parse_args()

    corpus = load_corpus(DataConfig(corpus="cmudict"))
    pairs = corpus.splits["train"]
    words = [source for source, _ in corpus.grouped("test")[:args.sentences]]
    rows, extra = [], {"what": __doc__.split("\n\n")[2], "sentences": len(words), "batch": args.batch}
    for shape_name in args.shapes:
        model, source_tokenizer, target_tokenizer, weights = load_model(shape_name, args.run_dir, pairs)
        extra[shape_name] = {"weights": weights, "parameters": model.count_params(),
                             "config": model.config.to_dict()}
        with tempfile.TemporaryDirectory(prefix="bench_tflite_") as directory:
            export = export_saved_model(model, source_tokenizer, target_tokenizer, os.path.join(directory, "sm"))
            signature = tf.saved_model.load(export).signatures["greedy"]
            contestants = {"saved_model": (lambda texts, f=signature: f(text=tf.constant(texts))["translation"]
                                           .numpy().tolist(), directory_size(export))}
            for quantize in QUANTIZATIONS:
                path = os.path.join(directory, f"{quantize}.tflite")
                content, _ = convert_translator(model, source_tokenizer, target_tokenizer, quantize=quantize)
                with open(path, "wb") as file:
                    file.write(content)
                runner = LiteRTTranslator(path).runner
                contestants[f"tflite_{quantize}"] = (
                    lambda texts, r=runner: list(r(text=np.array(texts, dtype=object))["translation"]), len(content))
            rows += measure(shape_name, contestants, [w.encode("utf-8") for w in words], args)
        report(args.name, COLUMNS, rows, extra)  # after each shape: an interrupted run keeps what it measured


def measure(shape_name, contestants, words, args):
    """One row per contestant {name: (translate(list of bytes) -> list of bytes, size in bytes)}."""
    outputs = {name: [] for name in contestants}
    latencies = {name: [] for name in contestants}
    for translate, _ in contestants.values():
        translate(words[:1])  # trace / allocate outside the timing
    for word in words:  # interleaved: every contestant sees the same machine load
        for name, (translate, _) in contestants.items():
            start = time.perf_counter()
            outputs[name] += translate([word])
            latencies[name].append(time.perf_counter() - start)
    throughput = {}
    for name, (translate, _) in contestants.items():
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for i in range(0, len(words), args.batch):
                translate(words[i:i + args.batch])
            times.append(time.perf_counter() - start)
        throughput[name] = len(words) / statistics.median(times)
    rows = []
    for name, (_, size) in contestants.items():
        p50, p95 = (1e3 * float(np.percentile(latencies[name], q)) for q in (50, 95))
        rows.append({"shape": shape_name, "format": name, "size_MB": size / 1e6, "p50_ms": p50, "p95_ms": p95,
                     "batch_sentences_per_s": throughput[name],
                     "agreement_%": 100 * float(np.mean([a == b for a, b in zip(outputs[name],
                                                                                outputs["saved_model"])]))})
    for row in rows:
        reference = rows[0]
        row["p50/saved_model"] = row["p50_ms"] / reference["p50_ms"]
        row["throughput/saved_model"] = row["batch_sentences_per_s"] / reference["batch_sentences_per_s"]
        print(row, flush=True)
    return rows


if __name__ == "__main__":
    main()
