"""tf.distribute: strategy choice, chief/worker directories, mixed precision, and `model.fit` under
MultiWorkerMirroredStrategy (two real worker processes) and MirroredStrategy (two logical CPUs).

The multi-process tests run tests/distribute_worker.py in fresh processes (a strategy must be set up before
TensorFlow starts, and a cluster needs one process per worker).
"""

import json
import os
import socket
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tf_transformer.distribute import (
    cpu_has_bf16_matmul,
    in_multi_worker_mode,
    is_chief,
    remove_writable_dir,
    resolve_strategy_name,
    select_strategy,
    set_mixed_precision,
    writable_dir,
)
from tf_transformer.errors import ConfigError

WORKER = Path(__file__).with_name("distribute_worker.py")
REPO = WORKER.parent.parent
TIMEOUT_S = 480  # per launch; ~20 s on an idle 2-core machine, far more when the cores are shared


# ---- strategy choice -------------------------------------------------------------------------------------------


def _tf_config(num_workers, index=0):
    workers = [f"127.0.0.1:{20000 + i}" for i in range(num_workers)]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def test_auto_picks_multi_worker_then_mirrored_then_default(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", _tf_config(2))
    assert resolve_strategy_name("auto", num_gpus=0) == "multi_worker"
    monkeypatch.setenv("TF_CONFIG", _tf_config(1))
    assert resolve_strategy_name("auto", num_gpus=0) == "default"
    monkeypatch.delenv("TF_CONFIG")
    assert resolve_strategy_name("auto", num_gpus=2) == "mirrored"
    assert resolve_strategy_name("auto", num_gpus=1) == "default"
    assert resolve_strategy_name("mirrored", num_gpus=0) == "mirrored"  # explicit names are kept


def test_bad_strategy_name_or_tf_config_is_a_one_line_config_error(monkeypatch):
    with pytest.raises(ConfigError, match="training.strategy: expected one of .*'multi_worker'.*got 'multiworker'"):
        select_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", "{cluster: }")
    with pytest.raises(ConfigError, match="TF_CONFIG is not valid JSON") as error:
        select_strategy("auto")
    assert "\n" not in str(error.value)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:1"]}}))
    with pytest.raises(ConfigError, match="TF_CONFIG names a cluster but no 'task'"):
        select_strategy("multi_worker")


def test_tpu_without_a_tpu_is_a_config_error(monkeypatch):
    if tf.config.list_logical_devices("TPU"):
        pytest.skip("this machine has a TPU")
    monkeypatch.setenv("TPU_NAME", "local")
    with pytest.raises(ConfigError, match="'tpu' found no TPU") as error:
        select_strategy("tpu")
    assert "\n" not in str(error.value)


def test_default_strategy_is_one_replica_and_the_chief(tmp_path):
    strategy = select_strategy("default")
    assert strategy is tf.distribute.get_strategy() and strategy.num_replicas_in_sync == 1
    assert is_chief(strategy) and not in_multi_worker_mode(strategy)
    path = str(tmp_path / "run" / "checkpoints")
    assert writable_dir(path, strategy) == path and os.path.isdir(path)
    remove_writable_dir(path, strategy)
    assert os.path.isdir(path)  # the chief's directory is the real one: never removed


# ---- chief and per-worker directories ---------------------------------------------------------------------------


def _strategy_of(task_type, task_id, cluster):
    """A stand-in for a multi-worker strategy: only `cluster_resolver` is read by is_chief / writable_dir."""
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id)
    return types.SimpleNamespace(cluster_resolver=resolver)


def test_worker_zero_is_chief_only_when_the_cluster_has_no_chief():
    workers = {"worker": ["a:1", "b:1"]}
    assert is_chief(_strategy_of("worker", 0, workers))
    assert not is_chief(_strategy_of("worker", 1, workers))
    with_chief = {"chief": ["c:1"], **workers}
    assert is_chief(_strategy_of("chief", 0, with_chief))
    assert not is_chief(_strategy_of("worker", 0, with_chief))


def test_other_workers_write_to_their_own_stable_temporary_directory(tmp_path):
    path = str(tmp_path / "run" / "checkpoints")
    worker = _strategy_of("worker", 1, {"worker": ["a:1", "b:1", "c:1"]})
    directory = writable_dir(path, worker)
    assert os.path.isdir(directory) and not os.path.exists(path)
    assert directory == writable_dir(path, worker)  # stable: a restarted worker finds its backups again
    assert directory != writable_dir(path, _strategy_of("worker", 2, {"worker": ["a:1", "b:1", "c:1"]}))
    assert Path(directory).name == "checkpoints" and tmp_path / "run" in Path(directory).parents
    Path(directory, "weights.h5").write_bytes(b"x")
    remove_writable_dir(path, worker)
    assert not os.path.exists(directory) and not os.path.exists(os.path.dirname(directory))


# ---- mixed precision -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy, compute_dtype", [("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")])
def test_logits_and_loss_stay_float32_under_mixed_precision(policy, compute_dtype, rng):
    import keras

    from tf_transformer import ModelConfig, Transformer
    from tf_transformer.losses import MaskedCrossEntropy
    from tf_transformer.schedules import default_optimizer

    try:
        assert set_mixed_precision(policy) == policy
        config = ModelConfig.preset("tiny", source_vocab_size=30, target_vocab_size=30, num_layers=1)
        model = Transformer(config)
        source, target = rng.integers(4, 30, (2, 6)), rng.integers(4, 30, (2, 5))
        logits = model({"source_ids": source, "target_ids": target})
        assert logits.dtype == "float32"
        assert model.encoder.compute_dtype == compute_dtype and model.encoder.variable_dtype == "float32"
        assert all(weight.dtype == "float32" for weight in model.weights)
        loss = MaskedCrossEntropy()(target, logits)
        assert loss.dtype == "float32" and np.isfinite(float(loss))
        model.compile(optimizer=default_optimizer(config.d_model, warmup_steps=10), loss=MaskedCrossEntropy())
        # float16 needs loss scaling, which Keras adds at compile time; bfloat16 does not.
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    finally:
        assert set_mixed_precision(None) == "float32"


def test_unknown_mixed_precision_policy_is_a_config_error():
    with pytest.raises(ConfigError, match="training.mixed_precision: expected none, float16, bfloat16 or auto"):
        set_mixed_precision("half")


CPUINFO = "processor\t: {n}\nmodel name\t: Intel(R) Xeon(R)\nflags\t\t: fpu sse avx512f {extra}\n\n"


@pytest.mark.parametrize("extra, expected", [("avx512_bf16 amx_bf16 amx_tile", True), ("avx512_bf16", True),
                                             ("avx512_vnni", False), ("amx_bf16x", False)])
def test_bfloat16_instructions_are_read_from_the_cpu_flags(tmp_path, extra, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(n=0, extra=extra) + CPUINFO.format(n=1, extra=extra), encoding="utf-8")
    assert cpu_has_bf16_matmul(str(cpuinfo)) is expected
    assert cpu_has_bf16_matmul(str(tmp_path / "missing")) is False  # not Linux: no claim


@pytest.mark.parametrize("policy, bf16, warns", [("bfloat16", True, False), ("bfloat16", False, True),
                                                 ("float16", True, True), (None, False, False)])
def test_mixed_precision_on_a_cpu_warns_unless_it_multiplies_bfloat16(monkeypatch, caplog, policy, bf16, warns):
    import tf_transformer.distribute as distribute

    monkeypatch.setattr(distribute, "cpu_has_bf16_matmul", lambda: bf16)
    try:
        with caplog.at_level("INFO", logger=distribute.__name__):
            set_mixed_precision(policy)
    finally:
        set_mixed_precision(None)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert bool(warnings) == warns, warnings
    if warns:
        assert warnings[0].startswith(f"mixed_precision={policy} on a CPU") and "slower than float32" in warnings[0]


@pytest.mark.parametrize("bf16, expected", [(True, "mixed_bfloat16"), (False, "float32")])
def test_auto_trains_in_bfloat16_on_a_cpu_only_where_it_multiplies_bfloat16(monkeypatch, bf16, expected):
    import tf_transformer.distribute as distribute

    assert not tf.config.list_physical_devices("GPU")  # this suite's machine: a CPU
    monkeypatch.setattr(distribute, "cpu_has_bf16_matmul", lambda: bf16)
    try:
        assert set_mixed_precision("auto") == expected
    finally:
        set_mixed_precision(None)


# ---- real processes: MultiWorkerMirroredStrategy and MirroredStrategy -------------------------------------------


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _tail(path, lines=30):
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:]) if Path(path).exists() else ""


def _run_workers(mode, out_dir, num_workers=2, extra_args=()):
    """Start `num_workers` worker processes of one 127.0.0.1 cluster; return their JSON reports.

    Every process is killed if any fails or the launch exceeds TIMEOUT_S.
    """
    workers = [f"127.0.0.1:{port}" for port in _free_ports(num_workers)]
    processes, logs = [], []
    try:
        for index in range(num_workers):
            tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
            env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "TF_CPP_MIN_LOG_LEVEL": "2"}
            logs.append(out_dir / f"worker{index}.log")
            with open(logs[-1], "w") as log:
                processes.append(subprocess.Popen(
                    [sys.executable, str(WORKER), mode, "--out", str(out_dir), *extra_args],
                    cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
        for process in processes:
            try:
                process.wait(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{mode}: a worker ran past {TIMEOUT_S} s (a hung collective?)\n"
                            + "\n".join(_tail(log) for log in logs))
            if process.returncode != 0:
                pytest.fail(f"{mode}: a worker exited with {process.returncode}\n"
                            + "\n".join(_tail(log) for log in logs))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return [json.loads((out_dir / f"worker{index}.json").read_text()) for index in range(num_workers)]


def _h5_arrays(path):
    import h5py

    arrays = {}
    with h5py.File(path, "r") as file:
        file.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset)
                        else None)
    return arrays


def test_two_worker_fit_lowers_the_loss_and_keeps_workers_identical(tmp_path):
    chief, other = _run_workers("fit", tmp_path, extra_args=("--epochs", "3", "--steps", "4"))
    assert (chief["task_id"], other["task_id"]) == (0, 1) and chief["replicas"] == other["replicas"] == 2
    assert chief["shards"] == [[0, 2]] and other["shards"] == [[1, 2]]  # each worker reads its own shard
    losses = chief["history"]["loss"]
    assert len(losses) == 3 and losses[-1] < losses[0], losses
    assert "val_loss" in chief["history"]  # fit's validation (evaluate inside fit) ran too
    # Logs are reduced over both workers, so both report the same numbers; evaluate ran for real.
    assert chief["history"] == other["history"] and chief["evaluation"] == other["evaluation"]
    assert set(chief["evaluation"]) == {"loss", "accuracy"} and np.isfinite(chief["evaluation"]["loss"])
    weights = [_h5_arrays(tmp_path / f"worker{index}.weights.h5") for index in (0, 1)]
    assert weights[0].keys() == weights[1].keys() and len(weights[0]) > 100
    for name, value in weights[0].items():  # the workers started from different seeds and trained on
        np.testing.assert_array_equal(value, weights[1][name], err_msg=name)  # different shards
    # Only the chief's checkpoint directory is real; the other worker's temporary one is gone.
    assert chief["chief"] and not other["chief"]
    assert chief["checkpoint_dir"] == str(tmp_path / "checkpoints") and chief["written"] == ["final.weights.h5"]
    assert other["checkpoint_dir"] != chief["checkpoint_dir"] and other["written"] == ["final.weights.h5"]
    assert not other["checkpoint_dir_exists_after_cleanup"]
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["final.weights.h5"]


def test_stock_keras_still_fails_under_multi_worker(tmp_path):
    """Guard for MultiWorkerFitFix (tf_transformer/distribute.py): stock Keras `fit` must still fail the two
    known ways. When this test fails, Keras changed: delete the part of the workaround it names."""
    for report in _run_workers("stock", tmp_path):
        stock, build_fixed = report["stock"], report["build_fix_only"]
        assert stock["failed"] and "Attempt to convert a value (PerReplica" in stock.get("message", ""), (
            "stock Keras fit no longer fails in _maybe_symbolic_build under MultiWorkerMirroredStrategy "
            "(keras-team/keras#20585 / tensorflow/tensorflow#72388 fixed?): delete "
            "MultiWorkerFitFix._maybe_symbolic_build from tf_transformer/distribute.py and re-run these tests; "
            f"stock fit gave {stock}")
        assert build_fixed["failed"] and "Invalid reduction dimension 0" in build_fixed.get("message", ""), (
            "stock Keras now reduces scalar train/test logs under MultiWorkerMirroredStrategy "
            "(keras-team/keras#20585 fixed?): delete MultiWorkerFitFix.train_step/test_step (the rank-1 logs) "
            f"from tf_transformer/distribute.py and re-run these tests; fit gave {build_fixed}")


@pytest.fixture(scope="module")
def mirrored_run(tmp_path_factory):
    """Train from the same weights on the same global batches under MirroredStrategy (2 logical CPUs) and the
    default strategy, in a fresh process; returns its output directory."""
    out_dir = tmp_path_factory.mktemp("mirrored")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    result = subprocess.run([sys.executable, str(WORKER), "mirrored", "--out", str(out_dir), "--steps", "4"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out_dir


def test_mirrored_over_two_cpus_trains_to_the_default_strategy_weights(mirrored_run):
    initial, default, mirrored = (np.load(mirrored_run / f"{name}.npz") for name in ("initial", "default",
                                                                                      "mirrored"))
    assert json.loads((mirrored_run / "mirrored.json").read_text())["replicas"] == 2

    def norm(arrays):
        return np.sqrt(sum(float(np.sum(np.square(array))) for array in arrays))

    moved = norm(default[name] - initial[name] for name in default.files)
    apart = norm(default[name] - mirrored[name] for name in default.files)
    assert moved > 1.0  # training changed the weights
    assert apart < 1e-2 * moved, (apart, moved)  # summation order only: far below what training moved


def test_mirrored_over_two_cpus_reports_the_default_strategy_loss(mirrored_run):
    losses = json.loads((mirrored_run / "mirrored.json").read_text())["losses"]
    np.testing.assert_allclose(losses["mirrored"], losses["default"], rtol=1e-3)


def test_launch_script_gives_every_worker_the_same_cluster_and_its_own_index(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "tf-transformer"  # stands in for the real command: prints what it was given
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$TF_CONFIG" "$*"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}
    configs = []
    for index in (0, 1, 2):
        result = subprocess.run([str(REPO / "training" / "launch_multiworker.sh"), "--config", "recipe.yaml"],
                                env={**env, "WORKERS": "h1:7000,h2:7000,h3:7001", "INDEX": str(index)},
                                capture_output=True, text=True, timeout=30, check=True)
        tf_config, arguments = result.stdout.splitlines()
        assert arguments == "train --config recipe.yaml"
        configs.append(json.loads(tf_config))
    assert all(config["cluster"] == {"worker": ["h1:7000", "h2:7000", "h3:7001"]} for config in configs)
    assert [config["task"] for config in configs] == [{"type": "worker", "index": i} for i in (0, 1, 2)]
    monkeypatch.setenv("TF_CONFIG", json.dumps(configs[1]))
    assert resolve_strategy_name("auto", num_gpus=0) == "multi_worker"  # what `strategy: auto` makes of it
