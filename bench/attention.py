"""Forward+backward time of our MultiHeadAttention vs keras.layers.MultiHeadAttention at equal shapes.

    python bench/attention.py [--repeats 10]

Self-attention with a causal mask, batch 64, lengths 32 and 128, d_model 256 and 512 (8 heads); the ratio is
keras time / ours (above 1 means ours is faster), both measured in this run.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import report, time_calls  # noqa: E402

from tf_transformer.layers import MultiHeadAttention, causal_mask  # noqa: E402


def _step_fn(layer, call):
    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(call(layer, x))
        return tape.gradient(loss, layer.trainable_variables)
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    rows = []
    for d_model in (256, 512):
        for length in (32, 128):
            x = tf.random.normal((args.batch, length, d_model))
            mask = causal_mask(length)
            ours = MultiHeadAttention(d_model, 8)
            theirs = keras.layers.MultiHeadAttention(8, d_model // 8)
            ours_step = _step_fn(ours, lambda layer, x: layer(x, attention_mask=mask).output)
            theirs_step = _step_fn(theirs, lambda layer, x: layer(x, x, attention_mask=mask[0]))
            seconds = time_calls({"ours": lambda: ours_step(x), "keras": lambda: theirs_step(x)}, args.repeats)
            ours_s, theirs_s = seconds["ours"], seconds["keras"]
            rows.append({"d_model": d_model, "length": length, "ours_ms": ours_s * 1e3,
                         "keras_ms": theirs_s * 1e3, "keras/ours": theirs_s / ours_s})
    report("attention", ["d_model", "length", "ours_ms", "keras_ms", "keras/ours"], rows,
           {"batch": args.batch, "heads": 8, "what": "forward+backward, causal self-attention"})


if __name__ == "__main__":
    main()
