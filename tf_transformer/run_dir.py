"""The run directory: everything one training run keeps, and loading a trained model back from it.

    runs/<name>/
      recipe.yaml              the resolved recipe (defaults and --set overrides applied)
      vocab/source/ vocab/target/   the tokenizers (tokenizer.json + vocabulary files)
      checkpoints/epoch-NNN.weights.h5   the last `keep_checkpoints` epochs (none with 0)
      checkpoints/best.weights.h5 + best.json   the best epoch by the dev metric
      backup/latest + backup/<step>-<epoch>/   resume state (weights with optimizer, epoch and step), every N
                               steps; the newest two kept
      logs/                    TensorBoard; history.csv: one row per epoch
      model.keras              the final model (best weights), written when training ends
"""

import dataclasses
import os
import warnings

import h5py
import keras

from tf_transformer.callbacks import ResumableBackup
from tf_transformer.config import load_recipe
from tf_transformer.distribute import float32_copy
from tf_transformer.errors import ModelPathError
from tf_transformer.model import Transformer
from tf_transformer.text import load_tokenizer


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """File locations inside one run directory."""

    root: str

    recipe = property(lambda self: os.path.join(self.root, "recipe.yaml"))
    source_vocab = property(lambda self: os.path.join(self.root, "vocab", "source"))
    target_vocab = property(lambda self: os.path.join(self.root, "vocab", "target"))
    checkpoints = property(lambda self: os.path.join(self.root, "checkpoints"))
    best_weights = property(lambda self: os.path.join(self.root, "checkpoints", "best.weights.h5"))
    backup = property(lambda self: os.path.join(self.root, "backup"))
    logs = property(lambda self: os.path.join(self.root, "logs"))
    history = property(lambda self: os.path.join(self.root, "history.csv"))
    model = property(lambda self: os.path.join(self.root, "model.keras"))


@dataclasses.dataclass
class Run:
    """A trained model with its recipe and tokenizers, as loaded by `load_run`."""

    recipe: object
    model: object
    source_tokenizer: object
    target_tokenizer: object
    paths: RunPaths


def load_run(run_dir):
    """Load the recipe, tokenizers and model of a run directory (model.keras, else the best/last checkpoint).

    The model computes in float32 even when the run trained under mixed precision (`distribute.float32_copy`).

    Raises:
        ModelPathError: the directory is missing, an export (naming --model), or not a (finished or checkpointed)
            run directory, naming what is missing.
    """
    paths = check_run_dir(run_dir)
    recipe = load_recipe(paths.recipe)
    source_tokenizer, target_tokenizer = load_tokenizer(paths.source_vocab), load_tokenizer(paths.target_vocab)
    if os.path.isfile(paths.model):
        model = keras.saving.load_model(paths.model, compile=False)
    else:
        weights = latest_weights(paths)
        if weights is None:
            raise ModelPathError(f"{run_dir}: no model.keras and no checkpoint yet; train longer or resume with "
                                 "the same `tf-transformer train` command")
        model = Transformer(recipe.model_config(source_tokenizer.vocab_size, target_tokenizer.vocab_size))
        model.build()
        load_checkpoint_weights(model, weights)
    return Run(recipe, float32_copy(model), source_tokenizer, target_tokenizer, paths)


def check_run_dir(run_dir):
    """`RunPaths` of `run_dir` if it is a run directory with its recipe and vocabularies (what `load_run` needs
    before the weights), without loading anything; else `ModelPathError` naming what is missing."""
    paths = RunPaths(str(run_dir))
    if not os.path.isdir(paths.root):
        raise ModelPathError(f"{run_dir}: not a run directory (no such directory); pass the --run-dir of a "
                             "`tf-transformer train` run")
    if _is_export(paths.root):
        raise ModelPathError(f"{run_dir}: this is an export, not a run directory; pass it as --model {run_dir}")
    if not os.path.isfile(paths.recipe):
        raise ModelPathError(f"{run_dir}: not a run directory (no recipe.yaml); pass the --run-dir of a "
                             "`tf-transformer train` run")
    if not os.path.isdir(paths.source_vocab) or not os.path.isdir(paths.target_vocab):
        raise ModelPathError(f"{run_dir}: no vocab/source and vocab/target; the run stopped before building them")
    return paths


def _is_export(directory):
    """Whether `directory` is a SavedModel version directory or a saved_models/<name> holding versions."""
    return os.path.isfile(os.path.join(directory, "saved_model.pb")) or any(
        name.isdigit() for name in os.listdir(directory))


def latest_weights(paths):
    """The best checkpoint if there is one, else the newest epoch checkpoint, else the resume backup's weights
    (all a run with `keep_checkpoints: 0` and no dev metric has), else None."""
    if os.path.isfile(paths.best_weights):
        return paths.best_weights
    epochs = sorted(f for f in os.listdir(paths.checkpoints) if f.startswith("epoch-")) \
        if os.path.isdir(paths.checkpoints) else []
    return os.path.join(paths.checkpoints, epochs[-1]) if epochs else ResumableBackup.load(paths.backup)[1]


def load_checkpoint_weights(model, path):
    """Load model weights from a training checkpoint that may also hold optimizer variables (ignored here).

    A stand-in Adam receives the checkpoint's optimizer group. Its variables never line up with the training
    optimizer's (a learning-rate schedule has no variable, a loss-scale optimizer has more), so Keras' warning
    that it skipped them says nothing a user needs and is silenced.
    """
    with h5py.File(path, "r") as file:
        has_optimizer = "optimizer" in file
    if has_optimizer:
        model.compile(optimizer=keras.optimizers.Adam())
        model.optimizer.build(model.trainable_variables)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(path)
