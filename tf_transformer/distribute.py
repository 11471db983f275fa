"""tf.distribute for training: pick a strategy, tell the chief from the other workers, mixed precision, and the
one workaround that makes stock Keras 3 `model.fit` / `model.evaluate` run under MultiWorkerMirroredStrategy.

Typical use (what `tf_transformer.trainer` does); create the strategy FIRST, before any other TensorFlow op, because
MultiWorkerMirroredStrategy must configure the collective runtime before it starts:

    strategy = select_strategy(recipe.training.strategy)        # "auto" reads TF_CONFIG and the GPUs
    global_batch = per_replica_batch * strategy.num_replicas_in_sync
    with dtype_policy(recipe.training.mixed_precision), strategy.scope():   # the policy the layers are built with
        model = Transformer(config)
        model.compile(...)                                        # float16 wraps the optimizer in loss scaling
    train = strategy.distribute_datasets_from_function(make_dataset)   # each worker reads its own shard
    model.fit(train, ...)
    model.save_weights(writable_dir(path, strategy))           # every worker saves: saving may run collectives
    remove_writable_dir(path, strategy)                           # ...and the non-chief copies are deleted

A cluster that cannot start, or loses a worker, ends in one line, never a hang: a worker waits at most
$TF_TRANSFORMER_STARTUP_TIMEOUT seconds (default 600) for the others to start, then is killed with "error: cluster
startup: ..."; a worker that dies later stops its peers' collectives (at once when its connections drop, else once
TensorFlow's coordination service has missed its heartbeats for ~10 s) and `fit` raises `ClusterError`.
`gather_from_workers` / `wait_for_workers` let the workers agree on a value (the backup to resume from) or wait for
each other (the chief's export).

Only the chief's files are real: `writable_dir` gives the other workers a per-worker directory next to the real one
(`<parent>/workertemp_<task_id>/<name>`, as TensorFlow's multi-worker Keras guide prescribes). The name is stable, so
a restarted worker finds its own BackupAndRestore files there; delete it only when training is over.

The Keras workaround (`MultiWorkerFitFix`, a mixin of `Transformer`). With TF 2.21 / Keras 3.15 stock `fit` fails
under MultiWorkerMirroredStrategy in two places (keras-team/keras#20585, tensorflow/tensorflow#72388):
  1. `Trainer._maybe_symbolic_build` builds the model from the first distributed batch by an eager
     `strategy.reduce("MEAN", batch)`, which MultiWorkerMirroredStrategy cannot do on a PerReplica value
     ("Attempt to convert a value (PerReplica...)"). Fix: build from this worker's first local replica batch
     (only shapes and dtypes matter for building).
  2. `reduce_per_replica` reduces the step's logs with `strategy.reduce("MEAN", v, axis=0)`, and scalar logs
     have no axis 0 ("Invalid reduction dimension 0"). Fix: `train_step` / `test_step` return each log as a
     rank-1 tensor [1], which that reduction turns back into the scalar (every replica holds the same value).
Both fixes act only in multi-worker mode; everywhere else the stock Keras code runs unchanged.
`tests/test_distribute.py::test_stock_keras_still_fails_under_multi_worker` fails when a Keras upgrade changes this
behaviour: then delete those parts of `MultiWorkerFitFix` (and this paragraph); its `fit`/`evaluate` stay.
"""

import contextlib
import json
import logging
import os
import subprocess
import sys

import tensorflow as tf
from keras import mixed_precision, tree

from tf_transformer.config import MIXED_PRECISION, STRATEGIES, check_choice
from tf_transformer.errors import ConfigError, TransformerError

STARTUP_TIMEOUT_ENV = "TF_TRANSFORMER_STARTUP_TIMEOUT"  # seconds a worker waits for the whole cluster (0: forever)
DEFAULT_STARTUP_TIMEOUT_S = 600
BF16_FLAGS = {"amx_bf16", "avx512_bf16"}  # /proc/cpuinfo flags of CPUs that multiply bfloat16 in hardware

logger = logging.getLogger(__name__)


class ClusterError(TransformerError):
    """A worker of a multi-worker run cannot reach the others, or lost one while training."""


# ---- strategy selection ----------------------------------------------------------------------------------------


def select_strategy(name="auto"):
    """The `tf.distribute.Strategy` for `training.strategy`.

    Args:
        name: "auto" (MultiWorkerMirrored when TF_CONFIG names several workers, Mirrored when this machine has
            several GPUs, else the default strategy), "default" (one device), "mirrored" (all local GPUs, or the
            CPU), "multi_worker" (MultiWorkerMirrored over the TF_CONFIG cluster) or "tpu" (TPU_NAME, default
            "local" for a TPU VM).

    A multi-worker strategy waits for every worker of TF_CONFIG to start; if the cluster is not complete within
    $TF_TRANSFORMER_STARTUP_TIMEOUT seconds (default 600; 0 waits forever) a watchdog process prints one line
    ("error: cluster startup: ...") and kills this one (SIGKILL: TensorFlow blocks in C++ there, holding the
    GIL, so no exception can reach the caller).

    Raises:
        ConfigError: an unknown name, an unreadable TF_CONFIG or startup timeout, or "tpu" where no TPU can be
            reached.
        ClusterError: TensorFlow gave up connecting to the cluster before the timeout.
    """
    name = resolve_strategy_name(name)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        config = _tf_config()
        if _cluster_size(config) > 1 and not isinstance(config.get("task"), dict):
            raise ConfigError("TF_CONFIG names a cluster but no 'task' (this worker's type and index); "
                              "see training/launch_multiworker.sh")
        return _multi_worker_strategy(config, _startup_timeout())
    return _tpu_strategy()


def resolve_strategy_name(name, num_gpus=None):
    """The concrete strategy name ("default", "mirrored", "multi_worker", "tpu") that `name` stands for.

    Args:
        name: one of `STRATEGIES`; "auto" is resolved from the TF_CONFIG environment variable and the GPU count.
        num_gpus: GPUs to assume (None: count the visible ones).
    """
    check_choice("training.strategy", name, STRATEGIES)
    if name != "auto":
        return name
    if _cluster_size(_tf_config()) > 1:
        return "multi_worker"
    if num_gpus is None:
        num_gpus = len(tf.config.list_physical_devices("GPU"))
    return "mirrored" if num_gpus > 1 else "default"


def _tf_config():
    try:
        config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    except json.JSONDecodeError as error:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({error}); see training/launch_multiworker.sh") from None
    if not isinstance(config, dict):
        raise ConfigError("TF_CONFIG must be a JSON object with 'cluster' and 'task'; "
                          "see training/launch_multiworker.sh")
    return config


def _cluster_size(tf_config):
    cluster = tf_config.get("cluster") or {}
    return len(cluster.get("chief", [])) + len(cluster.get("worker", []))


def _startup_timeout():
    value = os.environ.get(STARTUP_TIMEOUT_ENV, "").strip() or str(DEFAULT_STARTUP_TIMEOUT_S)
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise ConfigError(f"{STARTUP_TIMEOUT_ENV}={value!r}: expected seconds (a number >= 0; 0 waits forever), "
                          "e.g. training/launch_multiworker.sh --startup-timeout 300")
    return seconds


def _multi_worker_strategy(tf_config, timeout):
    """MultiWorkerMirroredStrategy; the process is killed, with one line, if the cluster is not complete within
    `timeout` s (0: no limit)."""
    cluster = tf_config.get("cluster") or {}
    task = tf_config.get("task") or {}
    workers = ", ".join(cluster.get("chief", []) + cluster.get("worker", []))
    where = f"cluster startup: {task.get('type', 'worker')} {task.get('index', 0)} could not reach every worker " \
            f"of TF_CONFIG ({workers})"
    fix = ("start every worker (training/launch_multiworker.sh on each host) and check that each host:port is "
           "reachable from the others")
    watchdog = None
    if timeout:
        watchdog = _start_watchdog(timeout, f"{where} within {timeout:g} s; {fix}, or wait longer with "
                                            f"--startup-timeout / {STARTUP_TIMEOUT_ENV}")
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except tf.errors.OpError as error:
        raise ClusterError(f"{where} ({_first_line(error)}); {fix}") from None
    finally:
        if watchdog is not None:
            watchdog.stdin.close()  # the watchdog sees end-of-file and leaves quietly
            watchdog.wait()


# Waits for end-of-file on stdin (the parent is done connecting, or died) for at most argv[2] seconds; past that
# it prints "error: argv[3]" and SIGKILLs the parent (argv[1]). A separate process because the parent is stuck in
# TensorFlow's C++ holding the GIL: no Python thread or signal handler of its own would run (the chief waits for
# the other workers without any time limit of TensorFlow's).
_WATCHDOG = """
import os, select, signal, sys
ready, _, _ = select.select([sys.stdin], [], [], float(sys.argv[2]))
if not ready:
    sys.stderr.write("error: " + sys.argv[3] + "\\n")
    sys.stderr.flush()
    os.kill(int(sys.argv[1]), signal.SIGKILL)
"""


def _start_watchdog(timeout, message):
    return subprocess.Popen([sys.executable, "-I", "-S", "-c", _WATCHDOG, str(os.getpid()), str(timeout), message],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)


def _first_line(error):
    """The telling line of a (TensorFlow) error: not "Graph execution error:" nor the traceback under it."""
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line[0].isspace()]
    telling = [line for line in lines if not line.startswith(("Graph execution error", "Detected at node",
                                                               "Additional GRPC error", "RPC:"))]
    return " ".join((telling or lines or [type(error).__name__])[0].split())[:200]


def _tpu_strategy():
    tpu = os.environ.get("TPU_NAME", "local")
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"training.strategy: 'tpu' found no TPU at TPU_NAME={tpu!r} ({first_line[:160]}); "
                          "set TPU_NAME or use strategy: auto") from None
    return tf.distribute.TPUStrategy(resolver)


# ---- chief and per-worker directories ---------------------------------------------------------------------------


def is_chief(strategy):
    """Whether this process writes the real checkpoints, logs and exports.

    True for every single-process strategy; in a cluster, the "chief" task, or worker 0 when there is no chief.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and int(resolver.task_id or 0) == 0 and not has_chief


def writable_dir(path, strategy):
    """The directory (created) where this process writes what belongs in directory `path`: `path` itself on the
    chief; on the other workers `<parent of path>/workertemp_<task_id>/<name of path>`, stable across restarts."""
    directory = path
    if not is_chief(strategy):
        parent, name = os.path.split(os.path.normpath(path))
        directory = os.path.join(parent, f"workertemp_{strategy.cluster_resolver.task_id}", name)
    tf.io.gfile.makedirs(directory)
    return directory


def remove_writable_dir(path, strategy):
    """Delete this worker's temporary copy made by `writable_dir(path, strategy)`; nothing on the chief."""
    if is_chief(strategy):
        return
    temporary = os.path.dirname(writable_dir(path, strategy))
    if tf.io.gfile.exists(temporary):
        tf.io.gfile.rmtree(temporary)


# ---- the workers together: agreeing on a value, waiting for each other, losing one ------------------------------


def gather_from_workers(strategy, value):
    """[worker 0's value, worker 1's, ...]: one int from every worker of a multi-worker run; [value] otherwise.

    A collective: every worker must call it, and it returns once all have (a barrier). A worker that died or
    cannot be reached makes it raise `ClusterError` (after the heartbeat timeout, ~10 s) instead of hanging.
    """
    if not in_multi_worker_mode(strategy):
        return [int(value)]
    local = tf.constant([value], tf.int64)

    @tf.function
    def gather():
        return strategy.run(lambda: tf.distribute.get_replica_context().all_gather(local, axis=0))

    with lost_workers_as_errors(strategy):
        values = strategy.experimental_local_results(gather())[0].numpy().tolist()  # [replicas], worker-major
    workers = _cluster_size({"cluster": strategy.cluster_resolver.cluster_spec().as_dict()})
    return values[::max(len(values) // workers, 1)]


def wait_for_workers(strategy):
    """Return once every worker of a multi-worker run has called this; at once otherwise."""
    gather_from_workers(strategy, 0)


@contextlib.contextmanager
def lost_workers_as_errors(strategy):
    """In multi-worker mode, turn TensorFlow's errors for a worker that died or stopped answering (collectives
    aborted by the coordination service's heartbeat check) into a one-line `ClusterError`."""
    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
            tf.errors.CancelledError) as error:
        if not in_multi_worker_mode(strategy):
            raise
        raise ClusterError(f"worker {strategy.cluster_resolver.task_id} lost contact with the other workers "
                           f"({_first_line(error)}); the job stopped: start every worker again with the same "
                           "command to resume from the last backup") from None


# ---- mixed precision -------------------------------------------------------------------------------------------


def set_mixed_precision(policy=None):
    """Set Keras' global dtype policy for the layers built next, from a `training.mixed_precision` value: None or
    "none" (float32), "float16" (mixed_float16: `compile` adds dynamic loss scaling) or "bfloat16"
    (mixed_bfloat16), or "auto" (`auto_policy()`); Keras' own names are accepted too. Weights stay float32; the
    Transformer's logits and the loss are float32 under every policy.

    Returns:
        the name of the Keras policy now in force.
    """
    if policy not in MIXED_PRECISION:
        raise ConfigError(f"training.mixed_precision: expected none, float16, bfloat16 or auto, got {policy!r}")
    keras_policy = MIXED_PRECISION[policy]
    if keras_policy == "auto":
        keras_policy = auto_policy()
        logger.info("mixed_precision=auto: %s on this machine", keras_policy)
    elif keras_policy != "float32" and not tf.config.list_physical_devices("GPU") \
            and not tf.config.list_logical_devices("TPU"):
        if keras_policy == "mixed_float16":
            logger.warning("mixed_precision=%s on a CPU: correct but usually slower than float32", policy)
        elif cpu_has_bf16_matmul():
            logger.info("mixed_precision=%s on a CPU with bfloat16 instructions (AMX or AVX512_BF16)", policy)
        else:
            logger.warning("mixed_precision=%s on a CPU without bfloat16 instructions (AMX or AVX512_BF16): "
                           "correct but slower than float32", policy)
    mixed_precision.set_global_policy(keras_policy)
    return mixed_precision.global_policy().name


def auto_policy():
    """The Keras policy `mixed_precision: auto` trains with here: mixed_bfloat16 on TPUs, on GPUs of compute
    capability 8.0 on (Ampere) and on CPUs with bfloat16 instructions (`cpu_has_bf16_matmul`); mixed_float16 on GPUs
    with tensor cores but no bfloat16 (7.x); float32 elsewhere, where half precision is slower."""
    if tf.config.list_logical_devices("TPU"):
        return "mixed_bfloat16"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = min(tuple(tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0)))
                         for gpu in gpus)
        return "mixed_bfloat16" if capability >= (8, 0) else "mixed_float16" if capability >= (7, 0) else "float32"
    return "mixed_bfloat16" if cpu_has_bf16_matmul() else "float32"


def cpu_has_bf16_matmul(cpuinfo="/proc/cpuinfo"):
    """Whether this CPU multiplies bfloat16 matrices in hardware, which oneDNN uses: AMX tiles (Linux flag amx_bf16:
    Intel Xeon from Sapphire Rapids on) or AVX512_BF16 dot products (flag avx512_bf16: AMD EPYC from Zen 4, Intel
    Cooper Lake). A 4096 x 192 x 768 product on 2 cores: 1,025 against 299 GFLOP/s for float32 with AMX, 371
    against 202 with AVX512_BF16 (Zen 4); a 256-wide trainer step under mixed_bfloat16 is 1.50x and 1.67x faster
    (bench/train.py). Without either flag bfloat16 is emulated and slower than float32. False where `cpuinfo`
    cannot be read (not Linux)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as file:
            return any(line.startswith("flags") and BF16_FLAGS & set(line.split()) for line in file)
    except OSError:
        return False


@contextlib.contextmanager
def dtype_policy(policy=None):
    """`set_mixed_precision(policy)` for the layers built inside the block; the previous global policy after it
    (a layer keeps the policy it was built with)."""
    previous = mixed_precision.global_policy()
    set_mixed_precision(policy)
    try:
        yield
    finally:
        mixed_precision.set_global_policy(previous)


def float32_copy(model):
    """`model` if it computes in float32, else a float32 twin of it holding the same weights.

    Exports and inference use it after mixed-precision training: the serving graph then computes in float32 (fast
    on CPUs, exact outputs), and the weights are float32 under every policy, so nothing is lost.
    """
    if model.compute_dtype == "float32":
        return model
    with dtype_policy(None):
        twin = type(model)(model.config)
        twin.build()
    twin.set_weights(model.get_weights())
    return twin


# ---- the Keras multi-worker workaround (see the module docstring) -------------------------------------------------


class MultiWorkerFitFix:
    """Mixin for a `keras.Model` (list it before keras.Model) that makes `fit`/`evaluate` run under
    MultiWorkerMirroredStrategy; a no-op under every other strategy. When Keras fixes #20585 delete
    `_maybe_symbolic_build`, `train_step` and `test_step`; keep `fit`/`evaluate` (a lost worker in one line)."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None and in_multi_worker_mode(self.distribute_strategy):
            data_batch = _first_local_batch(iterator, self.distribute_strategy)
            iterator = iterator if data_batch is None else None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def fit(self, *args, **kwargs):  # a lost worker: a one-line ClusterError, not a 20-line OpError
        with lost_workers_as_errors(self.distribute_strategy):
            return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        with lost_workers_as_errors(self.distribute_strategy):
            return super().evaluate(*args, **kwargs)

    def train_step(self, data):
        return _rank1_logs(super().train_step(data), self.distribute_strategy)

    def test_step(self, data):
        return _rank1_logs(super().test_step(data), self.distribute_strategy)


def in_multi_worker_mode(strategy):
    """Whether `strategy` is a MultiWorkerMirroredStrategy spanning several workers."""
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode())  # noqa: SLF001 (the test Keras itself uses)


def _first_local_batch(epoch_iterator, strategy):
    """This worker's first replica's part of the first batch, or None if there is none (the caller resets the
    epoch iterator)."""
    batch = None
    for _, _, iterator in epoch_iterator:
        batch = next(iterator)
        break
    if batch is None:
        return None
    return tree.map_structure(
        lambda value: (strategy.experimental_local_results(value)[0]
                       if isinstance(value, tf.distribute.DistributedValues) else value), batch)


def _rank1_logs(logs, strategy):
    if not in_multi_worker_mode(strategy):
        return logs
    return tree.map_structure(lambda value: tf.reshape(value, [1]), logs)
