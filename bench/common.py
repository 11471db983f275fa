"""Shared benchmark plumbing: timing a callable, printing a table, writing JSON to bench/results/."""

import json
import os
import platform
import statistics
import time

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def machine():
    """One line naming the machine the numbers come from."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{f'GPU x{len(gpus)}' if gpus else 'no GPU'}, TensorFlow {tf.__version__}")


def time_calls(functions, repeats=10, warmup=2):
    """Median wall seconds of each callable in the dict `functions`, timed in turn (interleaved) per repeat.

    Interleaving makes the ratios between them robust to load that comes and goes on the machine.
    Returns {name: seconds}; `warmup` calls of each run first (tracing excluded).
    """
    for function in functions.values():
        for _ in range(warmup):
            function()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def report(name, columns, rows, extra=None):
    """Print rows (dicts) as a Markdown table and write them with the machine to bench/results/<name>.json."""
    print(f"\n{name} — {machine()}")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(_format(row[c]) for c in columns) + " |")
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"{name}.json")
    with open(path, "w", encoding="utf-8") as file:
        json.dump({"machine": machine(), "rows": rows, **(extra or {})}, file, indent=2)
    print(f"wrote {path}")


def _format(value):
    return f"{value:.3g}" if isinstance(value, float) else str(value)
