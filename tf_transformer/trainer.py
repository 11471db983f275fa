"""Train a Transformer from a recipe: strategy, vocabularies, datasets, compile, `model.fit`, checkpoints, resume.

    summary = train(load_recipe("training/configs/g2p_tiny.yaml"), "runs/g2p_tiny")

The run directory (see `run_dir.py`) keeps the resolved recipe, vocabularies, logs and checkpoints. A killed run
rerun with the same command resumes from its last backup: weights and optimizer state, epoch and step. The rest
of the interrupted epoch is drawn from a fresh seeded shuffle (the batches already done are skipped by count),
so no epoch is repeated and step counters continue.
"""

import dataclasses
import hashlib
import json
import logging
import os
import shutil

import keras

from tf_transformer import distribute
from tf_transformer.callbacks import (
    Checkpoints,
    DevEvaluation,
    EpochTimer,
    HistoryCSV,
    LearningRateLog,
    ResumableBackup,
    TimeBudget,
    TrainingProgress,
)
from tf_transformer.config import save_recipe
from tf_transformer.data import load_corpus, make_dataset
from tf_transformer.distillation import Teachers, check_teachers
from tf_transformer.errors import ConfigError
from tf_transformer.evaluation import LOWER_IS_BETTER
from tf_transformer.export.saved_model import export_loaded
from tf_transformer.losses import MaskedAccuracy, MaskedCrossEntropy, TokenCount
from tf_transformer.model import Transformer
from tf_transformer.run_dir import RunPaths
from tf_transformer.schedules import default_optimizer
from tf_transformer.text import build_recipe_tokenizers, load_tokenizer
from tf_transformer.translation import Translator

logger = logging.getLogger(__name__)


def compile_model(model, training, target_num_tokens=None, total_steps=None):
    """Compile a built `Transformer` for `fit` as every training run does (bench/train.py times the same).

    Adam on the recipe's learning-rate schedule (`default_optimizer`; `total_steps`, the run's optimizer updates, is
    needed by `decay: cosine`), the label-smoothed `MaskedCrossEntropy` (its mass on the `target_num_tokens` real
    ids of the target tokenizer, None = every id; the recipe's distillation weight), `MaskedAccuracy` and
    `TokenCount` metrics, and the `TrainingConfig`'s steps_per_execution and jit_compile. Call it inside the
    strategy's scope.
    """
    if training.decay == "cosine" and (total_steps or 0) <= training.warmup_steps:
        raise ConfigError(f"training.decay: cosine decays after training.warmup_steps={training.warmup_steps}, but "
                          f"this run has {total_steps or 'no known number of'} updates; lower warmup_steps, train "
                          f"longer or use decay: noam")
    model.compile(optimizer=default_optimizer(model.config.d_model, training.warmup_steps,
                                              training.learning_rate_scale, training.clipnorm, training.decay,
                                              total_steps),
                  loss=MaskedCrossEntropy(training.label_smoothing, target_num_tokens,
                                          distillation_weight=training.distillation_weight),
                  metrics=[MaskedAccuracy(), TokenCount()],
                  steps_per_execution=training.steps_per_execution, jit_compile=training.jit_compile)
    model.optimizer.build(model.trainable_variables)  # before fit: otherwise the train step traces twice


def train(recipe, run_dir, verbose=True):
    """Run (or resume) the training a recipe describes, writing into `run_dir`.

    Args:
        recipe: a `Recipe` (see `config.load_recipe`).
        run_dir: the run directory (created).
        verbose: show the progress bar (its summaries go to this module's logger; the CLI shows them).

    Returns:
        dict: epochs run, the best dev metric and epoch, the final logs, and the paths written ("export": the
        SavedModel version directory, on the chief).

    Raises:
        ConfigError, DataError: from the recipe, corpus or vocabulary, with the file and field to fix.
    """
    if recipe.training.max_minutes is not None and \
            distribute.resolve_strategy_name(recipe.training.strategy) == "multi_worker":
        raise ConfigError("training.max_minutes: not with the multi_worker strategy (each worker would time its own "
                          "epochs, and they must stop at the same one); set training.epochs instead")
    check_teachers(recipe.training.teachers)  # a mistyped teacher path stops the run before it writes anything
    strategy = distribute.select_strategy(recipe.training.strategy)  # configures the runtime: before any other op
    paths, chief = RunPaths(str(run_dir)), distribute.is_chief(strategy)
    # what every worker logs goes to its own log; only the chief draws a progress bar
    os.makedirs(paths.root, exist_ok=True)

    corpus = load_corpus(recipe.data)
    logger.info(f"corpus: {corpus}")
    source_tokenizer, target_tokenizer = _tokenizers(recipe, corpus, paths, chief)
    if chief:
        save_recipe(recipe, paths.recipe)
    config = recipe.model_config(source_tokenizer.vocab_size, target_tokenizer.vocab_size)
    task, replicas = recipe.task, strategy.num_replicas_in_sync
    teachers = Teachers(recipe.training.teachers, source_tokenizer, target_tokenizer,
                        recipe.training.distillation_top_k, verbose and chief) if recipe.training.teachers else None

    def dataset(split, seed=recipe.data.seed, training=False, repeat=False, skip=0):
        data_config = dataclasses.replace(recipe.data, seed=seed)

        def build(input_context=None):
            ds = make_dataset(corpus.splits[split], source_tokenizer, target_tokenizer, data_config,
                              training=training, input_context=input_context,
                              teachers=teachers if training else None)
            # `skip` steps: a batch per replica this input pipeline feeds (one per worker under multi-worker)
            per_step = input_context.num_replicas_in_sync // input_context.num_input_pipelines \
                if input_context else 1
            return ds.repeat().skip(skip * per_step) if repeat else ds
        return strategy.distribute_datasets_from_function(build) if replicas > 1 else build()

    steps_per_epoch = recipe.training.steps_per_epoch or _count_steps(corpus, "train", source_tokenizer,
                                                                        target_tokenizer, recipe, replicas)
    validation_steps = corpus.splits["dev"] and _count_steps(corpus, "dev", source_tokenizer, target_tokenizer,
                                                             recipe, replicas)
    keras.utils.set_random_seed(recipe.training.seed)  # here: loading teachers draws from Keras' seed generator
    with distribute.dtype_policy(recipe.training.mixed_precision), strategy.scope():
        model = Transformer(config)
        model.build()
        compile_model(model, recipe.training, target_tokenizer.num_tokens, recipe.training.epochs * steps_per_epoch)
    logger.info(f"model: {model.count_params():,} parameters, {replicas} replica(s) ({type(strategy).__name__}), "
        f"{steps_per_epoch} steps per epoch")

    backup_dir = distribute.writable_dir(paths.backup, strategy)
    state, weights = ResumableBackup.load(backup_dir, strategy)  # multi-worker: the backup all workers hold
    epoch, step = 0, 0
    if state is not None:
        model.load_weights(weights)
        epoch, step = state["epoch"], state["step"]
        logger.info(f"resuming at epoch {epoch + 1}, step {step} (global step {state['global_step']})")

    callbacks, progress, backup = _callbacks(recipe, paths, strategy, model, source_tokenizer, target_tokenizer,
                                             corpus, task, steps_per_epoch, verbose and chief, backup_dir, epoch)
    epochs = recipe.training.epochs
    # repeated, with a fixed number of steps: every worker of a multi-worker run then runs the same count
    validation = dataset("dev", repeat=True) if validation_steps else None
    history = {}
    if epoch < epochs and step:  # finish the interrupted epoch first
        progress.step_offset = backup.step_offset = step
        run = model.fit(dataset("train", recipe.data.seed + epoch, True, True, skip=step),
                        initial_epoch=epoch, epochs=epoch + 1, steps_per_epoch=max(steps_per_epoch - step, 1),
                        validation_data=validation, validation_steps=validation_steps, callbacks=callbacks,
                        shuffle=False, verbose=0)
        history, epoch = _merge(history, run.history), epoch + 1
    if epoch < epochs and not model.stop_training:
        run = model.fit(dataset("train", recipe.data.seed + epoch, True, True), initial_epoch=epoch, epochs=epochs,
                        steps_per_epoch=steps_per_epoch, validation_data=validation,
                        validation_steps=validation_steps, callbacks=callbacks, shuffle=False, verbose=0)
        history = _merge(history, run.history)
    _say_if_stopped_early(callbacks, epochs)
    summary = _finish(model, paths, strategy, chief, history, task)
    if chief:  # the last step: a SavedModel for TF Serving in <export.directory>/<export.name or name>/<version>/
        summary["export"] = export_loaded(recipe, model, source_tokenizer, target_tokenizer)
        logger.info(f"exported {summary['export']}")
    distribute.wait_for_workers(strategy)  # the others end with the chief, not while it still exports
    return summary


def _tokenizers(recipe, corpus, paths, chief):
    """Load the run's tokenizers, or build them from the training split and save them (chief only)."""
    if os.path.isdir(paths.source_vocab) and os.path.isdir(paths.target_vocab):
        return load_tokenizer(paths.source_vocab), load_tokenizer(paths.target_vocab)
    source, target = build_recipe_tokenizers(recipe, corpus.splits["train"])
    if chief:  # written aside and renamed: the other workers, checking for these directories, never see half
        for tokenizer, path in ((source, paths.source_vocab), (target, paths.target_vocab)):
            temporary = f"{path}.tmp{os.getpid()}"
            tokenizer.save(temporary)
            shutil.rmtree(path, ignore_errors=True)
            os.replace(temporary, path)
    return source, target


def _count_steps(corpus, split, source_tokenizer, target_tokenizer, recipe, replicas):
    """Steps in one pass over a split: its per-replica batches (their order does not change their number)."""
    batches = make_dataset(corpus.splits[split], source_tokenizer, target_tokenizer, recipe.data, training=False)
    return max(1, int(batches.reduce(0, lambda count, _: count + 1)) // replicas)


def _callbacks(recipe, paths, strategy, model, source_tokenizer, target_tokenizer, corpus, task, steps_per_epoch,
               show_progress, backup_dir, first_epoch):
    training = recipe.training
    max_extra = recipe.decoding.max_extra_length
    evaluation = DevEvaluation(
        lambda m: Translator(m, source_tokenizer, target_tokenizer, "greedy", recipe.decoding.jit_compile,
                             max_extra_length=max_extra),
        evenly_spaced(corpus.grouped("dev"), training.evaluate_max_examples), task, training.evaluate_every_epochs)
    backup = ResumableBackup(backup_dir, training.backup_every_steps)
    progress = TrainingProgress(steps_per_epoch, training.epochs)
    logs_dir = distribute.writable_dir(paths.logs, strategy)
    history = paths.history if distribute.is_chief(strategy) else os.path.join(logs_dir, "history.csv")
    callbacks = [evaluation,
                 Checkpoints(distribute.writable_dir(paths.checkpoints, strategy), training.keep_checkpoints,
                             recipe.best_metric),
                 backup,
                 EpochTimer(),
                 LearningRateLog(),
                 HistoryCSV(history),
                 keras.callbacks.TensorBoard(logs_dir, update_freq="epoch"),
                 keras.callbacks.TerminateOnNaN()]
    if training.early_stopping_patience is not None and training.evaluate_every_epochs:
        callbacks.append(keras.callbacks.EarlyStopping(
            f"dev_{recipe.best_metric}", patience=training.early_stopping_patience,
            mode="min" if recipe.best_metric in LOWER_IS_BETTER else "max"))
    if training.max_minutes is not None:  # after EpochTimer, whose epoch_seconds it sums
        callbacks.append(TimeBudget.resumed(training.max_minutes, history, first_epoch))
    if show_progress:
        callbacks.append(progress)
    return callbacks, progress, backup


def _say_if_stopped_early(callbacks, epochs):
    """Log why a run ended before `epochs`, when early stopping or the time budget ended it (otherwise the log just
    stops)."""
    for stopper in callbacks:
        if isinstance(stopper, keras.callbacks.EarlyStopping) and stopper.stopped_epoch:
            logger.info(f"early stopping: {stopper.monitor} was best at epoch {stopper.best_epoch + 1} and did not "
                        f"improve in the next {stopper.patience} (training.early_stopping_patience); stopped after "
                        f"epoch {stopper.stopped_epoch + 1} of {epochs}")
        if isinstance(stopper, TimeBudget) and stopper.stopped_after and stopper.stopped_after < epochs:
            minutes = stopper.spent_seconds / 60
            mean = minutes / stopper.epochs_done
            logger.info(f"time budget: {minutes:.1f} minutes of epochs, and another (~{mean:.1f} min) would pass "
                        f"training.max_minutes={stopper.max_minutes:g}; stopped after epoch {stopper.stopped_after} "
                        f"of {epochs}")


def evenly_spaced(items, count):
    """At most `count` of `items`, evenly spaced over the list: a dev subset that spans the whole split (the
    dictionary is alphabetical, so its first words are not a sample of it)."""
    if count >= len(items):
        return list(items)
    return [items[index * len(items) // count] for index in range(count)]


def _merge(history, new):
    for key, values in new.items():
        history.setdefault(key, []).extend(values)
    return history


def _finish(model, paths, strategy, chief, history, task):
    """Keep the best weights in model.keras (chief) and summarise the run."""
    if distribute.in_multi_worker_mode(strategy):  # the same on every worker (tests/training/test_multiworker.py)
        logger.info(f"worker {strategy.cluster_resolver.task_id}: trained weights sha256 {_digest(model)}")
    best_path = os.path.join(paths.checkpoints, "best.json")
    best = None
    if chief and os.path.isfile(best_path):
        with open(best_path, encoding="utf-8") as file:
            best = json.load(file)
        model.load_weights(paths.best_weights)
    if chief:
        model.save(paths.model)
    for directory in (paths.backup, paths.checkpoints, paths.logs):
        distribute.remove_writable_dir(directory, strategy)
    final = {key: values[-1] for key, values in history.items()}
    if best:
        logger.info(f"best {best['metric']}: {best['value']:.2f} at epoch {best['epoch']}; "
                    f"model saved to {paths.model}")
    return {"run_dir": paths.root, "model": paths.model, "best": best, "final": final,
            "epochs_run": len(history.get("loss", [])), "task": task}


def _digest(model):
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(weight.numpy().tobytes())
    return digest.hexdigest()[:16]
