"""Checkpoint averaging (paper §6.1: the base models average the last 5 checkpoints).

    output = average_checkpoints("runs/g2p", last=5)       # runs/g2p-avg5/, a run directory of its own

The result is a run directory (recipe, vocabularies, model.keras holding the averaged weights, averaged.json
naming the sources), so `tf-transformer export`, `evaluate` and `translate --run-dir` use it unchanged.
"""

import json
import os
import shutil

import numpy as np

from tf_transformer.errors import ModelPathError
from tf_transformer.run_dir import RunPaths, load_checkpoint_weights, load_run

AVERAGED_FILE = "averaged.json"


def epoch_checkpoints(run_dir):
    """The run's per-epoch checkpoints (checkpoints/epoch-NNN.weights.h5), oldest first."""
    directory = RunPaths(str(run_dir)).checkpoints
    if not os.path.isdir(directory):
        return []
    return [os.path.join(directory, name) for name in sorted(os.listdir(directory))
            if name.startswith("epoch-") and name.endswith(".weights.h5")]


def average_checkpoints(run_dir, last=5, output=None):
    """Average the weights of the newest `last` epoch checkpoints of a run into a new run directory.

    Args:
        run_dir: a `tf-transformer train` run directory with at least `last` epoch checkpoints (the recipe's
            training.keep_checkpoints keeps that many).
        last: how many of the newest checkpoints to average (>= 1).
        output: the new run directory; default `<run_dir>-avg<last>` next to it. Must not exist yet.

    Returns:
        the output directory.

    Raises:
        ModelPathError: too few checkpoints, or `output` exists (nothing is overwritten).
    """
    if last < 1:
        raise ModelPathError(f"--last {last}: average at least 1 checkpoint")
    run_dir = os.path.normpath(str(run_dir))
    output = os.path.normpath(str(output or f"{run_dir}-avg{last}"))
    if not os.path.isfile(RunPaths(run_dir).recipe):
        raise ModelPathError(f"{run_dir}: not a run directory (no recipe.yaml); pass the --run-dir of a "
                             "`tf-transformer train` run")
    checkpoints = epoch_checkpoints(run_dir)
    if len(checkpoints) < last:
        raise ModelPathError(f"{run_dir}: {len(checkpoints)} epoch checkpoint(s), fewer than --last {last}; average "
                             f"fewer, or train with training.keep_checkpoints >= {last}")
    if os.path.exists(output):
        raise ModelPathError(f"{output}: exists already; pass another --output (an average never overwrites)")
    run = load_run(run_dir)
    model, sources = run.model, checkpoints[-last:]
    totals = None
    for path in sources:
        load_checkpoint_weights(model, path)
        values = [np.asarray(weight, dtype=np.float64) for weight in model.get_weights()]
        totals = values if totals is None else [total + value for total, value in zip(totals, values)]
    model.set_weights([(total / last).astype(weight.dtype) for total, weight in zip(totals, model.get_weights())])

    source, target = RunPaths(run_dir), RunPaths(output)
    temporary = f"{output}.partial"
    shutil.rmtree(temporary, ignore_errors=True)
    os.makedirs(temporary)
    shutil.copy2(source.recipe, os.path.join(temporary, "recipe.yaml"))
    shutil.copytree(os.path.dirname(source.source_vocab), os.path.join(temporary, "vocab"))
    model.save(RunPaths(temporary).model)
    with open(os.path.join(temporary, AVERAGED_FILE), "w", encoding="utf-8") as file:
        json.dump({"run_dir": run_dir, "checkpoints": [os.path.basename(path) for path in sources]}, file, indent=2)
        file.write("\n")
    os.replace(temporary, target.root)  # a killed average leaves only <output>.partial
    return output
