"""A dev metric against training minutes, from a run's history.csv: a PNG and a table (for the README's results).

    python bench/plot_history.py runs/g2p --metric dev_wer --output bench/figures/g2p_dev_wer.png

Minutes are the running sum of the `epoch_seconds` column (tf_transformer.callbacks.EpochTimer: the wall time of
each epoch, dev evaluation included). History written before that column existed gets the times from the training
log instead (`--log`: the "dev evaluation took X s of the epoch's Y s" lines the progress bar prints).
Prints one row per epoch and writes the numbers as JSON next to the PNG.
"""

import argparse
import csv
import json
import os
import re
import sys

EPOCH_LINE = re.compile(r"dev evaluation took [\d.]+ s of the epoch's ([\d.]+) s")


def read_history(run_dir, metric, log=None):
    """[(epoch (1-based), cumulative minutes, metric value)] of a run, for the epochs that logged the metric (the
    minutes count every epoch); exits with a one-line error if the history lacks the metric or any epoch time."""
    path = os.path.join(run_dir, "history.csv")
    try:
        with open(path, encoding="utf-8") as file:
            rows = list(csv.DictReader(file))
    except FileNotFoundError:
        sys.exit(f"error: {path}: no history.csv; pass the --run-dir of a `tf-transformer train` run")
    if not rows or metric not in rows[0]:
        sys.exit(f"error: {path}: no {metric!r} column; choose one of {', '.join(rows[0]) if rows else 'none'}")
    if "epoch_seconds" in rows[0]:
        seconds = [float(row["epoch_seconds"]) for row in rows]
    elif log:
        with open(log, encoding="utf-8", errors="replace") as file:
            seconds = [float(match.group(1)) for match in EPOCH_LINE.finditer(file.read().replace("\r", "\n"))]
        if len(seconds) < len(rows):
            sys.exit(f"error: {log}: {len(seconds)} epoch times for {len(rows)} history rows")
        seconds = seconds[:len(rows)]
    else:
        sys.exit(f"error: {path}: no epoch_seconds column (older run); pass --log with its training log")
    points, total = [], 0.0
    for row, epoch_seconds in zip(rows, seconds):
        total += epoch_seconds
        if row[metric] not in ("", "NA"):  # an epoch without a dev evaluation (evaluate_every_epochs > 1)
            points.append((int(row["epoch"]) + 1, total / 60.0, float(row[metric])))
    return points


def plot(points, metric, title, output):
    from matplotlib.figure import Figure  # the Agg canvas: no display needed

    figure = Figure(figsize=(6, 3.6), dpi=100)
    axes = figure.add_subplot()
    axes.plot([m for _, m, _ in points], [v for _, _, v in points], marker="o", markersize=3)
    axes.set_xlabel("training minutes (2-core CPU)")
    axes.set_ylabel(metric)
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(output)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a `tf-transformer train` run directory")
    parser.add_argument("--metric", default="dev_wer", help="a history.csv column (default dev_wer)")
    parser.add_argument("--log", help="the training log, for runs whose history has no epoch_seconds")
    parser.add_argument("--title", help="plot title (default: the run directory)")
    parser.add_argument("--output", required=True, help="the PNG to write (the numbers go to the same name .json)")
    args = parser.parse_args(argv)
    points = read_history(args.run_dir, args.metric, args.log)
    print(f"{'epoch':>5}  {'minutes':>7}  {args.metric}")
    for epoch, minutes, value in points:
        print(f"{epoch:>5}  {minutes:>7.1f}  {value:.2f}")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    plot(points, args.metric, args.title or args.run_dir, args.output)
    with open(os.path.splitext(args.output)[0] + ".json", "w", encoding="utf-8") as file:
        json.dump({"run_dir": args.run_dir, "metric": args.metric,
                   "points": [{"epoch": e, "minutes": round(m, 2), args.metric: v} for e, m, v in points]},
                  file, indent=2)
        file.write("\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
