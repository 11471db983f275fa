"""Keras callbacks of a training run: progress, dev evaluation, history.csv, checkpoints (last N + best), resumable
backup.

All of them write only on the chief (`is_chief`); the others keep state in per-worker temporary directories.
"""

import csv
import json
import logging
import math
import os
import shutil
import time

import keras

from tf_transformer import distribute
from tf_transformer.errors import DataError
from tf_transformer.evaluation import LOWER_IS_BETTER, scores_for
from tf_transformer.reporting import ProgressBar

logger = logging.getLogger(__name__)


class TrainingProgress(keras.callbacks.Callback):
    """Each epoch: a header line, a `reporting.ProgressBar` of its steps with loss, token accuracy and target tokens/s
    (real, non-pad tokens; counted from the end of the first step, so tracing is excluded), then a line with the
    validation and dev metrics and the dev evaluation's share of the epoch's time.

    Args:
        steps_per_epoch: steps in a full epoch (the bar's length).
        epochs: total epochs (for the header line).
        stream: where the bar goes (default stderr).
    """

    def __init__(self, steps_per_epoch, epochs, stream=None):
        super().__init__()
        self.steps_per_epoch, self.epochs, self.stream = steps_per_epoch, epochs, stream
        self.step_offset = 0  # steps of the current epoch done before a resume

    def on_epoch_begin(self, epoch, logs=None):
        logger.info(f"Epoch {epoch + 1}/{self.epochs}"
                    + (f" (resumed at step {self.step_offset})" if self.step_offset else ""))
        self.bar = ProgressBar(self.steps_per_epoch, f"epoch {epoch + 1}/{self.epochs}", "steps", self.stream,
                               start=self.step_offset)
        self.start = None
        self.epoch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        values = {name: float(logs[name]) for name in ("loss", "accuracy") if name in logs}
        if self.start is None:
            self.start, self.start_tokens = time.perf_counter(), float(logs.get("tokens", 0.0))
        elif "tokens" in logs:
            elapsed = max(time.perf_counter() - self.start, 1e-9)
            values["tok/s"] = (float(logs["tokens"]) - self.start_tokens) / elapsed
        self.bar.update(self.step_offset + batch + 1, values)

    def on_epoch_end(self, epoch, logs=None):
        self.bar.close()
        logs = logs or {}
        shown = {k: v for k, v in logs.items() if (k.startswith("val_") or k.startswith("dev_"))
                 and k != DevEvaluation.SECONDS}
        if shown:
            logger.info("  " + "  ".join(f"{k}: {float(v):.4g}" for k, v in sorted(shown.items())))
        if DevEvaluation.SECONDS in logs:  # this callback runs after DevEvaluation: the epoch time includes it
            seconds = float(logs[DevEvaluation.SECONDS])
            epoch_seconds = float(logs.get(EpochTimer.SECONDS, time.perf_counter() - self.epoch_start))
            logger.info(f"  dev evaluation took {seconds:.1f} s of the epoch's {epoch_seconds:.1f} s "
                        f"({100 * seconds / max(epoch_seconds, 1e-9):.1f}%)")
        self.step_offset = 0


class EpochTimer(keras.callbacks.Callback):
    """Adds the epoch's wall time (training, validation and the dev evaluation) to its logs as `epoch_seconds`, so
    history.csv can plot a metric against training minutes. Place it after DevEvaluation, before HistoryCSV. The
    first epoch after a resume counts only its resumed part."""

    SECONDS = "epoch_seconds"

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.SECONDS] = time.perf_counter() - self.start


class TimeBudget(keras.callbacks.Callback):
    """Ends training at the last epoch that fits `training.max_minutes`: after each epoch, when the minutes of epochs
    so far plus one more of their mean would pass the budget, it sets `stop_training`, so a recipe keeps its
    wall-clock budget on a CPU slower or faster than the one it was tuned on. Epoch minutes are `EpochTimer`'s
    (training, validation and dev evaluation; tracing included, so the estimate errs early); place it after
    EpochTimer. A resumed run counts its earlier epochs as history.csv recorded them (`spent_seconds`, `epochs_done`).

    After the run, `stopped_after` is the 1-based epoch it stopped after (None: the budget never bit) and
    `spent_seconds` the seconds of epochs it counted.
    """

    def __init__(self, max_minutes, spent_seconds=0.0, epochs_done=0):
        super().__init__()
        self.max_minutes, self.spent_seconds, self.epochs_done = max_minutes, spent_seconds, epochs_done
        self.stopped_after = None

    @classmethod
    def resumed(cls, max_minutes, history_path, epoch):
        """The budget of a run resuming at 0-based `epoch`: the epoch_seconds history.csv holds for earlier epochs."""
        try:
            seconds = [float(row[EpochTimer.SECONDS]) for row in read_history(history_path)[1]
                       if row.get(EpochTimer.SECONDS) and int(row["epoch"]) < epoch]
        except (KeyError, ValueError) as error:
            raise DataError(f"{history_path}: its epoch_seconds cannot be read for training.max_minutes "
                            f"({type(error).__name__}: {error}); fix or move the file away and rerun") from None
        return cls(max_minutes, sum(seconds), len(seconds))

    def on_epoch_end(self, epoch, logs=None):
        self.spent_seconds += float((logs or {})[EpochTimer.SECONDS])
        self.epochs_done += 1
        next_end = self.spent_seconds * (self.epochs_done + 1) / self.epochs_done
        if next_end > 60 * self.max_minutes:
            self.model.stop_training = True
            self.stopped_after = epoch + 1


class LearningRateLog(keras.callbacks.Callback):
    """Adds the learning rate the next update will use (the schedule at the optimizer's iteration count) to the
    epoch's logs as `learning_rate`: history.csv and TensorBoard then show the schedule a run followed."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class HistoryCSV(keras.callbacks.Callback):
    """history.csv: one row per epoch, `epoch` (0-based) then every entry of the epoch's logs, rewritten whole at
    each epoch end (to a temporary file, then renamed, so a kill leaves the previous version).

    Unlike Keras' CSVLogger, which fixes its columns at the first epoch it sees, a column that first appears later
    extends the header: the dev metrics of a run evaluating every K epochs are kept (CSVLogger dropped them), and a
    run resumed after a new log entry was added keeps its old rows under their own columns (CSVLogger wrote the new
    rows' values under the old header, shifted). An epoch logged again after a resume replaces its row. Cells an
    epoch lacks stay empty. A file it cannot read is a `DataError` (the epoch's backup is already written).
    """

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        header, rows = read_history(self.path)
        header = header or ["epoch"]
        row = {"epoch": str(epoch), **{name: _cell(value) for name, value in (logs or {}).items()}}
        header += sorted(name for name in row if name not in header)
        rows = [old for old in rows if old.get("epoch") != row["epoch"]] + [row]
        temporary = self.path + ".tmp"
        with open(temporary, "w", encoding="utf-8", newline="") as file:
            writer = csv.DictWriter(file, header, restval="", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(temporary, self.path)


def read_history(path):
    """(header, rows) of a run's history.csv, rows as dicts of text; ([], []) when there is none yet.

    Raises:
        DataError: the file is not a CSV this run can read (naming it, and how to go on).
    """
    if not os.path.isfile(path):
        return [], []
    try:
        with open(path, encoding="utf-8", newline="") as file:
            reader = csv.DictReader(file)
            rows = [{k: v for k, v in row.items() if k is not None} for row in reader]  # None: a longer row
            return list(reader.fieldnames or []), rows
    except (UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: not a history.csv this run can extend ({error}); move it away and rerun the "
                        "same command: the run resumes from its last backup") from None


def _cell(value):
    """A log value as history.csv writes it: numbers (Python, NumPy or tensor scalars) as floats, the rest as text."""
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value)


class DevEvaluation(keras.callbacks.Callback):
    """Every `every` epochs, decode the dev sources (greedy) and add `dev_<metric>` to the epoch logs, with the
    evaluation's wall time as `dev_eval_seconds` (the progress bar prints its share of the epoch).

    Runs before the checkpoint and early-stopping callbacks, which watch `dev_<primary metric>`.

    Args:
        translator_factory: callable model -> `Translator` (tokenizers bound).
        grouped: list of (source, [references]) of the dev split.
        task: "g2p" (WER/PER) or "translation" (BLEU/chrF).
        every: epochs between evaluations (0 = never).
    """

    SECONDS = "dev_eval_seconds"  # the log entry (and history.csv column) with the evaluation's wall time

    def __init__(self, translator_factory, grouped, task, every=1):
        super().__init__()
        self.translator_factory, self.grouped, self.task, self.every = translator_factory, grouped, task, every
        self.translator = None

    def on_epoch_end(self, epoch, logs=None):
        if not self.every or (epoch + 1) % self.every or not self.grouped:
            return
        start = time.perf_counter()
        if self.translator is None:
            self.translator = self.translator_factory(self.model)
        hypotheses = [text for text, _ in self.translator.translate([source for source, _ in self.grouped])]
        scores = scores_for(self.task, hypotheses, [references for _, references in self.grouped])
        for name, value in scores.items():
            logs[f"dev_{name}"] = value
        logs[self.SECONDS] = time.perf_counter() - start


class Checkpoints(keras.callbacks.Callback):
    """Per-epoch weights (the last `keep` kept; none with 0) and the best epoch's weights by `dev_<metric>` (with
    best.json).

    The best score survives a resume: it is read back from best.json (when it is of the same metric).
    """

    def __init__(self, directory, keep, metric):
        super().__init__()
        self.directory, self.keep = directory, keep
        self.monitor = f"dev_{metric}"
        self.lower_is_better = metric in LOWER_IS_BETTER
        self.best_path = os.path.join(directory, "best.json")
        self.best = None
        if os.path.isfile(self.best_path):
            with open(self.best_path, encoding="utf-8") as file:
                saved = json.load(file)
            if saved["metric"] == self.monitor:  # a resume that changed training.best_metric starts afresh
                self.best = saved["value"]

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.directory, exist_ok=True)
        if self.keep:
            _atomic_save_weights(self.model, os.path.join(self.directory, f"epoch-{epoch + 1:03d}.weights.h5"))
        epochs = sorted(f for f in os.listdir(self.directory) if f.startswith("epoch-"))
        for old in epochs[:-self.keep] if self.keep else epochs:
            os.remove(os.path.join(self.directory, old))
        value = (logs or {}).get(self.monitor)
        if value is None or math.isnan(value):
            return
        if self.best is None or (value < self.best if self.lower_is_better else value > self.best):
            self.best = float(value)
            _atomic_save_weights(self.model, os.path.join(self.directory, "best.weights.h5"))
            with open(self.best_path, "w", encoding="utf-8") as file:
                json.dump({"metric": self.monitor, "value": self.best, "epoch": epoch + 1}, file)


class ResumableBackup(keras.callbacks.Callback):
    """Saves weights + optimizer state and {epoch, step} every `every_steps` steps and at each epoch end.

    Each backup is a new folder `backup/<global step>-<epoch>/` (weights and state.json together); the file
    `backup/latest` names the complete ones, newest first, and is replaced atomically after a backup is written,
    so a run killed at any moment still finds a consistent backup. The newest two are kept: in a multi-worker run a
    worker killed while saving is one backup behind the others, and all of them then resume from the one they all
    hold (`load(directory, strategy)`). The trainer resumes at that backup's epoch and step.
    """

    WEIGHTS, STATE, POINTER = "model.weights.h5", "state.json", "latest"

    def __init__(self, directory, every_steps):
        super().__init__()
        self.directory, self.every_steps = directory, every_steps
        self.epoch, self.step_offset = 0, 0

    @classmethod
    def names(cls, directory):
        """The complete backups' folder names, newest first (at most two; [] if there is none)."""
        pointer = os.path.join(directory, cls.POINTER)
        if not os.path.isfile(pointer):
            return []
        with open(pointer, encoding="utf-8") as file:
            return [name for name in file.read().split() if os.path.isdir(os.path.join(directory, name))]

    @classmethod
    def load(cls, directory, strategy=None):
        """(state {"epoch", "step", "global_step"}, weights path) of the last backup, or (None, None).

        With a multi-worker `strategy` (every worker must call it): the newest backup that every worker holds, or
        (None, None) on all of them if one has none; `ClusterError` if the workers' backups have nothing in common.
        """
        names = cls.names(directory)
        if strategy is not None and distribute.in_multi_worker_mode(strategy):
            keys = {int(name.replace("-", "")): name for name in names}  # "<step:09d>-<epoch:04d>": time order
            agreed = min(distribute.gather_from_workers(strategy, max(keys, default=-1)))
            if agreed < 0:
                return None, None
            if agreed not in keys:
                raise distribute.ClusterError(
                    f"{directory}: this worker holds backups {names} but another worker's newest is "
                    f"{agreed // 10_000:09d}-{agreed % 10_000:04d}; the workers cannot resume together: delete "
                    "every worker's backup directory to start again")
            names = [keys[agreed]]
        if not names:
            return None, None
        folder = os.path.join(directory, names[0])
        with open(os.path.join(folder, cls.STATE), encoding="utf-8") as file:
            return json.load(file), os.path.join(folder, cls.WEIGHTS)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step = self.step_offset + batch + 1
        last = batch + 1 == (self.params or {}).get("steps")  # the epoch-end backup follows: resuming at
        if self.every_steps and step % self.every_steps == 0 and not last:  # (epoch, its last step) would redo one
            self._save(self.epoch, step)

    def on_epoch_end(self, epoch, logs=None):
        self.step_offset = 0
        self._save(epoch + 1, 0)

    def _save(self, epoch, step):
        global_step = int(self.model.optimizer.iterations.numpy())
        name = f"{global_step:09d}-{epoch:04d}"
        folder = os.path.join(self.directory, name)
        os.makedirs(folder, exist_ok=True)
        self.model.save_weights(os.path.join(folder, self.WEIGHTS), overwrite=True)
        with open(os.path.join(folder, self.STATE), "w", encoding="utf-8") as file:
            json.dump({"epoch": epoch, "step": step, "global_step": global_step}, file)
        kept = [name] + [old for old in self.names(self.directory) if old != name][:1]
        temporary = os.path.join(self.directory, self.POINTER + ".tmp")
        with open(temporary, "w", encoding="utf-8") as file:
            file.write("\n".join(kept) + "\n")
        os.replace(temporary, os.path.join(self.directory, self.POINTER))
        for old in os.listdir(self.directory):
            if old not in kept and os.path.isdir(os.path.join(self.directory, old)):
                shutil.rmtree(os.path.join(self.directory, old), ignore_errors=True)


def _atomic_save_weights(model, path):
    temporary = path[: -len(".weights.h5")] + ".tmp.weights.h5"
    model.save_weights(temporary, overwrite=True)
    os.replace(temporary, path)
