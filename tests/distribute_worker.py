"""One process of the tf.distribute tests (tests/test_distribute.py starts it; not a test module itself).

    TF_CONFIG='{"cluster": {"worker": [...]}, "task": {...}}' python tests/distribute_worker.py fit --out DIR
    TF_CONFIG=...                                                 python tests/distribute_worker.py stock --out DIR
    python tests/distribute_worker.py mirrored --out DIR

fit:      MultiWorkerMirroredStrategy, `model.fit` (with validation) and `model.evaluate` on a copy task read per
          worker from `distribute_datasets_from_function`; writes worker<id>.weights.h5 and worker<id>.json.
stock:    the same fit with Keras' own `_maybe_symbolic_build` / `train_step` / `test_step` (no workaround), then
          with only the build fix; records how each attempt failed in worker<id>.json.
mirrored: MirroredStrategy over 2 logical CPUs vs the default strategy from the same weights on the same global
          batches (whose two replica halves hold unequal numbers of real tokens); writes initial.npz, default.npz
          and mirrored.npz (weights before/after) and mirrored.json (losses).
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VOCAB_SIZE = 24
LENGTH = 8  # source tokens per example
SHORT_LENGTH = 2  # real tokens of the short examples of `copy_task(..., short_every=...)`


def copy_task(num_examples, seed, short_every=None):
    """Copy task: ((source_ids [N, L], target_in [N, L + 1]), target_out [N, L + 1]) as a tf.data.Dataset.

    With `short_every=K`, the second half of every K consecutive examples holds only SHORT_LENGTH real tokens (then
    padding): batched by K and split between two replicas, one replica then sees 4x the other's real tokens.
    """
    import numpy as np
    import tensorflow as tf

    from tf_transformer.config import END_ID, PAD_ID, START_ID

    source = np.random.default_rng(seed).integers(4, VOCAB_SIZE, (num_examples, LENGTH), dtype="int32")
    lengths = np.full(num_examples, LENGTH)
    if short_every:
        lengths[np.arange(num_examples) % short_every >= short_every // 2] = SHORT_LENGTH
    source[np.arange(LENGTH)[None, :] >= lengths[:, None]] = PAD_ID
    target_in = np.concatenate([np.full((num_examples, 1), START_ID, "int32"), source], axis=1)
    target_out = np.concatenate([source, np.full((num_examples, 1), PAD_ID, "int32")], axis=1)
    target_out[np.arange(num_examples), lengths] = END_ID
    return tf.data.Dataset.from_tensor_slices(((source, target_in), target_out))


def compiled_model(seed, dropout=0.1, model_class=None, num_layers=2):
    """A tiny Transformer (or `model_class`) compiled as the trainer compiles it (call under the strategy's scope)."""
    import keras

    from tf_transformer import ModelConfig, Transformer
    from tf_transformer.losses import MaskedAccuracy, MaskedCrossEntropy
    from tf_transformer.schedules import default_optimizer

    keras.utils.set_random_seed(seed)
    config = ModelConfig.preset("tiny", source_vocab_size=VOCAB_SIZE, target_vocab_size=VOCAB_SIZE, dropout=dropout,
                                  num_layers=num_layers)
    model = (model_class or Transformer)(config)
    model.compile(optimizer=default_optimizer(config.d_model, warmup_steps=10, scale=2.0),
                  loss=MaskedCrossEntropy(label_smoothing=0.1), metrics=[MaskedAccuracy()])
    model.build()
    model.optimizer.build(model.trainable_variables)  # variables made now are not made again while tracing fit
    return model


def multi_worker_datasets(strategy, per_replica_batch, shards=None):
    """Train and dev datasets, each worker reading its own shard of one global copy-task corpus.

    `shards`, if given, collects (input_pipeline_id, num_input_pipelines) of every input pipeline made here.
    """
    def make(seed):
        def dataset_fn(context):
            if shards is not None:
                shards.append((context.input_pipeline_id, context.num_input_pipelines))
            batch = context.get_per_replica_batch_size(per_replica_batch * strategy.num_replicas_in_sync)
            dataset = copy_task(256, seed).shard(context.num_input_pipelines, context.input_pipeline_id)
            return dataset.batch(batch, drop_remainder=True).repeat()
        return strategy.distribute_datasets_from_function(dataset_fn)
    return make(seed=1), make(seed=2)


def run_fit(args):
    from tf_transformer.distribute import is_chief, remove_writable_dir, select_strategy, writable_dir

    strategy = select_strategy(args.strategy)  # first: MultiWorkerMirroredStrategy must start before other ops
    task_id = strategy.cluster_resolver.task_id
    shards = []
    train, dev = multi_worker_datasets(strategy, per_replica_batch=8, shards=shards)
    with strategy.scope():
        model = compiled_model(seed=task_id)  # different seeds: the strategy must make the initial weights agree
    history = model.fit(train, epochs=args.epochs, steps_per_epoch=args.steps, validation_data=dev,
                        validation_steps=2, verbose=0)
    evaluation = model.evaluate(dev, steps=2, return_dict=True, verbose=0)
    model.save_weights(os.path.join(args.out, f"worker{task_id}.weights.h5"))
    checkpoint_dir = writable_dir(os.path.join(args.out, "checkpoints"), strategy)
    model.save_weights(os.path.join(checkpoint_dir, "final.weights.h5"))  # every worker saves; the chief's is real
    written = sorted(os.listdir(checkpoint_dir))
    remove_writable_dir(os.path.join(args.out, "checkpoints"), strategy)
    report = {"task_id": task_id, "chief": is_chief(strategy), "replicas": strategy.num_replicas_in_sync,
              "shards": sorted(set(shards)),
              "history": {k: [float(v) for v in values] for k, values in history.history.items()},
              "evaluation": {k: float(v) for k, v in evaluation.items()},
              "checkpoint_dir": checkpoint_dir, "written": written,
              "checkpoint_dir_exists_after_cleanup": os.path.exists(checkpoint_dir)}
    _write_report(args.out, f"worker{task_id}.json", report)


def run_stock(args):
    import keras

    from tf_transformer import Transformer
    from tf_transformer.distribute import select_strategy

    strategy = select_strategy(args.strategy)
    task_id = strategy.cluster_resolver.task_id
    train, _ = multi_worker_datasets(strategy, per_replica_batch=8)
    stock = {"_maybe_symbolic_build": keras.Model._maybe_symbolic_build,
             "train_step": keras.Model.train_step, "test_step": keras.Model.test_step}
    attempts = {"stock": stock, "build_fix_only": {k: v for k, v in stock.items() if k != "_maybe_symbolic_build"}}
    report = {"task_id": task_id}
    for name, methods in attempts.items():
        model_class = type(f"Transformer_{name}", (Transformer,), dict(methods))
        with strategy.scope():
            model = compiled_model(seed=0, model_class=model_class, num_layers=1)  # 1 layer: a faster trace
        try:
            model.fit(train, epochs=1, steps_per_epoch=2, verbose=0)
            report[name] = {"failed": False}
        except Exception as error:  # noqa: BLE001 (recording how stock Keras fails is the point)
            report[name] = {"failed": True, "type": type(error).__name__, "message": str(error)[:2000]}
    _write_report(args.out, f"worker{task_id}.json", report)


def run_mirrored(args):
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert mirrored.num_replicas_in_sync == 2
    # the same global batches for both; each replica's half holds a different number of real tokens
    batches = copy_task(16 * args.steps, seed=3, short_every=16).batch(16, drop_remainder=True)

    default_model = compiled_model(seed=0, dropout=0.0)
    initial = default_model.get_weights()
    with mirrored.scope():
        mirrored_model = compiled_model(seed=1, dropout=0.0)
    mirrored_model.set_weights(initial)
    losses = {}
    for name, model in (("default", default_model), ("mirrored", mirrored_model)):
        losses[name] = model.fit(batches, epochs=1, verbose=0).history["loss"]
        np.savez(os.path.join(args.out, f"{name}.npz"), *model.get_weights())
    np.savez(os.path.join(args.out, "initial.npz"), *initial)
    _write_report(args.out, "mirrored.json", {"losses": losses, "replicas": mirrored.num_replicas_in_sync})


def _write_report(directory, name, report):
    with open(os.path.join(directory, name), "w", encoding="utf-8") as file:
        json.dump(report, file)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("fit", "stock", "mirrored"))
    parser.add_argument("--out", required=True)
    parser.add_argument("--strategy", default="multi_worker")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args(argv)
    {"fit": run_fit, "stock": run_stock, "mirrored": run_mirrored}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
