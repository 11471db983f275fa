"""Op-level profile of training steps: where `model.fit` spends its time, ours vs KerasHub, by op type.

    python bench/profile_train.py [--shape small] [--steps 2] [--models ours keras_hub]

Each model is compiled as in bench/train.py's "fixed" mode and warmed up; then the TensorFlow profiler traces
--steps steps (`tf.profiler.experimental`, trace in bench/results/profile_<model>/, open it with
`xprof bench/results` or TensorBoard's profile plugin). XProf's framework op statistics (the `xprof` package of
the `bench` extra) are summed by op type and by the layer that owns the op, and printed: self time in ms summed
over TensorFlow's threads (IDLE is thread time spent waiting). Writes bench/results/profile_train.json.
The findings of a run are in bench/README.md.
"""

import argparse
import collections
import glob
import json
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
from common import RESULTS, report  # noqa: E402
from train import MAX_LENGTH, SHAPES, build_model, cmudict_data, fixed_dataset, plain_compile  # noqa: E402

from tf_transformer import ModelConfig  # noqa: E402


def op_statistics(trace_dir):
    """[(op type, op name, self µs)] of the XProf framework op statistics of the trace under trace_dir."""
    from xprof.convert import raw_to_tool_data

    (path,) = glob.glob(os.path.join(trace_dir, "plugins", "profile", "*", "*.xplane.pb"))
    table = json.loads(raw_to_tool_data.xspace_to_tool_data([path], "framework_op_stats", {})[0])[0]
    index = {column["id"]: i for i, column in enumerate(table["cols"])}
    cells = [[cell["v"] if cell else None for cell in row["c"]] for row in table["rows"]]
    return [(c[index["type"]], c[index["operation"]], c[index["total_self_time"]]) for c in cells]


def _owner(name):
    """The layer path of an op name, without TensorFlow's numeric suffixes and gradient prefixes."""
    name = re.sub(r"_\d+(?=/|$)", "", name.replace("StatefulPartitionedCall/", "").replace("gradient_tape/", ""))
    name = re.sub(r"(encoder|decoder|layer)_\d+", r"\1_N", name)
    return "/".join(name.split("/")[1:-1][:4]) or name


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="small", choices=list(SHAPES))
    parser.add_argument("--models", nargs="+", default=["ours", "keras_hub"], choices=["ours", "keras_hub",
                                                                                       "keras_mha"])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()

    pairs, source_tokenizer, target_tokenizer = cmudict_data()
    shape = SHAPES[args.shape]
    config = ModelConfig.preset("base", **shape["overrides"], source_vocab_size=source_tokenizer.vocab_size,
                                target_vocab_size=target_tokenizer.vocab_size, max_length=MAX_LENGTH + 8)
    dataset, _ = fixed_dataset(pairs, source_tokenizer, target_tokenizer, shape["batch"], args.steps)
    rows, extra = [], {"shape": args.shape, "steps": args.steps, "by_owner": {}}
    for kind in args.models:
        model = plain_compile(build_model(kind, config), False, 1)
        model.fit(dataset, epochs=1, steps_per_epoch=args.steps, verbose=0)  # trace
        trace_dir = os.path.join(RESULTS, f"profile_{kind}")
        shutil.rmtree(trace_dir, ignore_errors=True)
        tf.profiler.experimental.start(trace_dir)
        model.fit(dataset, epochs=1, steps_per_epoch=args.steps, verbose=0)
        tf.profiler.experimental.stop()
        by_type, by_owner = collections.Counter(), collections.Counter()
        for op_type, name, micros in op_statistics(trace_dir):
            by_type[op_type] += micros
            if op_type != "IDLE":
                by_owner[f"{op_type} {_owner(name)}"] += micros
        busy = sum(v for k, v in by_type.items() if k != "IDLE")
        for op_type, micros in by_type.most_common(args.top):
            rows.append({"model": kind, "op_type": op_type, "self_ms": micros / 1e3,
                         "%_of_busy": "" if op_type == "IDLE" else 100 * micros / busy})
        rows.append({"model": kind, "op_type": "(all but IDLE)", "self_ms": busy / 1e3, "%_of_busy": 100.0})
        extra["by_owner"][kind] = {k: v / 1e3 for k, v in by_owner.most_common(40)}
        print(f"\n{kind}: top ops by owner (self ms)")
        for name, micros in by_owner.most_common(args.top):
            print(f"  {micros / 1e3:9.1f}  {name}")
    report("profile_train", ["model", "op_type", "self_ms", "%_of_busy"], rows, extra)


if __name__ == "__main__":
    main()
