"""Multi-worker training end to end: `training/launch_multiworker.sh --local 2` starts two real `tf-transformer
train` processes on 127.0.0.1 (MultiWorkerMirroredStrategy, TF_CONFIG from the script), on a tiny recipe.

"The same global batch", made exact. `data.tokens_per_batch` is the per-replica budget and each worker reads its
own shard (every 2nd training pair), so a two-worker step's loss is the token mean over two different batches, one
per worker. The corpus is built so that a single process can compute exactly that: every pair has the same length
(5 characters -> 5 tokens), there are 40 training pairs, and the per-replica budget holds exactly a shard (20
pairs): every two-worker step sees all 40 pairs, 20 per worker (equal token counts, so the global token mean and
the mean of the two replicas' means agree). The reference is the default strategy (one process, one replica) with
twice the budget: every step is one batch of all 40 pairs. Had the workers not been sharded, each would train
on its own 20-of-40 subset per step and the two runs would part. Float summation order still differs, so weights
agree within float tolerance, with one exception by construction: the attention KEY biases. Their gradient is zero
in exact arithmetic (softmax ignores a constant added to all of one query's scores), so both runs' gradients for
them are rounding noise, and Adam (g / sqrt(v)) turns any noise into steps of the learning rate's size. Those
entries are left out of the weight comparison; the logits, which they cannot change, are compared too.

The runs are slow on a shared 2-core machine (each worker imports TensorFlow and traces `fit`): minutes each, all
bounded by TIMEOUT_S.
"""

import io
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
LAUNCH = REPO / "training" / "launch_multiworker.sh"
TIMEOUT_S = 900  # one launch on a busy 2-core machine (about 3 minutes idle-ish); past it the test fails
EPOCHS, STEPS, BACKUP_EVERY = 2, 12, 2
TRAIN_PAIRS, WORD_LENGTH = 40, 5
PER_REPLICA_TOKENS = (TRAIN_PAIRS // 2) * 2 * (WORD_LENGTH + 1)  # a batch is tokens // (2 * (length + 1)) pairs


# ---- helpers ---------------------------------------------------------------------------------------------------


def _write_recipe(directory, tokens_per_batch, strategy="auto"):
    """A tiny spell-backwards recipe over a corpus of equal-length pairs (see the module docstring)."""
    from tf_transformer.data import split_of

    directory.mkdir(parents=True, exist_ok=True)
    rng, seen, splits = random.Random(0), set(), {"train": [], "dev": []}
    wanted = {"train": TRAIN_PAIRS, "dev": 4}
    while any(len(splits[name]) < count for name, count in wanted.items()):
        word = "".join(rng.choice("abcdefghij") for _ in range(WORD_LENGTH))
        split = split_of(word)
        if word not in seen and split in splits and len(splits[split]) < wanted[split]:
            splits[split].append(word)
        seen.add(word)
    corpus = directory / "pairs.tsv"
    corpus.write_text("".join(f"{word}\t{' '.join(reversed(word))}\n" for word in splits["train"] + splits["dev"]),
                      encoding="utf-8")
    recipe = {
        "name": "spell_backwards_mw",
        "data": {"corpus": "tsv", "path": str(corpus), "tokens_per_batch": tokens_per_batch,
                 "max_source_length": 8, "max_target_length": 8},
        "source_tokenizer": {"kind": "char", "vocab_size": None, "lowercase": True},
        "target_tokenizer": {"kind": "whitespace", "vocab_size": None},
        "model": {"preset": "tiny", "d_model": 32, "d_ff": 64, "num_layers": 1, "num_heads": 2, "max_length": 16,
                  "dropout": 0.0},
        # a gentle learning rate (peak ~6e-3): at the Noam default for d_model 32 (~6e-2) the 24 steps are chaotic
        # enough to amplify summation-order rounding into differences of 1e-1 between the two runs
        "training": {"epochs": EPOCHS, "steps_per_epoch": STEPS, "warmup_steps": 10, "learning_rate_scale": 0.1,
                     "strategy": strategy,
                     "backup_every_steps": BACKUP_EVERY, "evaluate_every_epochs": 0, "keep_checkpoints": 1},
        "decoding": {"beam_size": 1, "max_extra_length": 4},
        "export": {"directory": str(directory / "saved_models")},
    }
    path = directory / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def _free_base_port(count=2):
    """A port p with p .. p+count-1 all free on 127.0.0.1 right now (BASE_PORT of the launch script)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                sockets.append(socket.socket())
                sockets[-1].bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no run of free ports on 127.0.0.1")


def _env(**extra):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}
    env.pop("TF_CONFIG", None)
    return env


def _start(command, cwd, env):
    """Popen in its own session, so that a timeout can kill the launcher and every worker it started."""
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _finish(process, timeout=TIMEOUT_S):
    """(returncode, stdout, stderr, seconds) of a `_start`ed process; kills its whole session past `timeout`."""
    start = time.monotonic()
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"{process.args} still running after {timeout} s (killed):\n{out[-3000:]}\n{err[-3000:]}")
    return process.returncode, out, err, time.monotonic() - start


def _launch_local(directory, base_port):
    return _start([str(LAUNCH), "--local", "2", "--startup-timeout", "600", "--config", "recipe.yaml",
                   "--run-dir", "run"], directory, _env(BASE_PORT=str(base_port)))


def _last_start(log_path):
    """The part of an (appended) worker log written by its newest start."""
    return Path(log_path).read_text(encoding="utf-8", errors="replace").split("\n==== ")[-1]


def _digest(log_text):
    found = re.findall(r"worker \d+: trained weights sha256 ([0-9a-f]+)", log_text)
    assert len(found) == 1, log_text[-3000:]
    return found[0]


def _keras_arrays(model_path):
    """{name: array} of every variable in a .keras file (model weights and optimizer state)."""
    import h5py

    with zipfile.ZipFile(model_path) as archive:
        data = archive.read("model.weights.h5")
    arrays = {}
    with h5py.File(io.BytesIO(data), "r") as file:
        file.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset)
                        else None)
    return arrays


def _without_key_biases(name, array):
    """`array` with the attention key-bias entries (zero gradient: see the module docstring) set to 0."""
    array = np.array(array, dtype=np.float64)
    if name.endswith("self_attention/qkv/vars/1"):  # [query | key | value] biases
        width = array.shape[0] // 3
        array[width:2 * width] = 0
    elif name.endswith("cross_attention/key_value/vars/1"):  # [key | value] biases
        array[:array.shape[0] // 2] = 0
    return array


def _assert_same_training(model_a, model_b):
    """The two runs' final variables agree within float tolerance (key biases aside) and they ran the same steps."""
    a, b = _keras_arrays(model_a), _keras_arrays(model_b)
    assert a.keys() == b.keys() and len(a) > 50
    key_biases = [name for name in a if name.endswith(("qkv/vars/1", "key_value/vars/1"))]
    assert len(key_biases) == 3, f"attention bias variables not found under the expected names: {sorted(a)}"
    iterations = [name for name in a if name.startswith("optimizer") and a[name].ndim == 0
                  and np.issubdtype(a[name].dtype, np.integer)]
    assert iterations and all(int(a[name]) == int(b[name]) == EPOCHS * STEPS for name in iterations), (
        {name: (a[name], b[name]) for name in iterations})
    moved = 0.0
    for name in a:
        if name.startswith("optimizer"):
            continue
        np.testing.assert_allclose(_without_key_biases(name, a[name]), _without_key_biases(name, b[name]),
                                   rtol=1e-4, atol=1e-5, err_msg=name)
        moved += float(np.sum(np.abs(a[name])))
    assert moved > 1.0


def _history(run_dir):
    lines = (Path(run_dir) / "history.csv").read_text(encoding="utf-8").strip().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, map(float, line.split(",")))) for line in lines[1:]]


def _logits(run_dir, data_config):
    """The trained model's logits on every training pair, batched as `data_config` says."""
    from tf_transformer.data import load_corpus
    from tf_transformer.data.pipeline import make_dataset
    from tf_transformer.run_dir import load_run

    run = load_run(run_dir)
    pairs = load_corpus(data_config).splits["train"]
    batches = make_dataset(pairs, run.source_tokenizer, run.target_tokenizer, data_config, training=False)
    return np.concatenate([run.model({"source_ids": source, "target_ids": target_in}).numpy()
                           for (source, target_in), _ in batches])


def _leftovers(root):
    return sorted(str(path) for path in Path(root).rglob("workertemp_*"))


# ---- which backup the workers resume from (no cluster needed: the exchange between workers is stubbed) ---------


class _FakeModel:
    """What ResumableBackup touches: the optimizer's step counter and save_weights."""

    def __init__(self):
        self.optimizer = type("Optimizer", (), {})()
        self.step = 0
        self.optimizer.iterations = type("Iterations", (), {"numpy": lambda _: self.step})()

    def save_weights(self, path, overwrite=True):
        Path(path).write_text(str(self.step), encoding="utf-8")


def test_workers_resume_from_the_newest_backup_every_one_of_them_holds(tmp_path, monkeypatch):
    from tf_transformer import distribute
    from tf_transformer.callbacks import ResumableBackup

    backup, model = ResumableBackup(str(tmp_path), every_steps=2), _FakeModel()
    backup.set_model(model)
    backup.set_params({"steps": STEPS})
    for step in range(1, 7):  # backups at steps 2, 4, 6 of epoch 0: the newest two are kept
        model.step = step
        backup.on_train_batch_end(step - 1)
    assert ResumableBackup.names(str(tmp_path)) == ["000000006-0000", "000000004-0000"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["000000004-0000", "000000006-0000"]
    assert ResumableBackup.load(str(tmp_path))[0]["step"] == 6  # one process: the newest

    newest_elsewhere = {}
    monkeypatch.setattr(distribute, "in_multi_worker_mode", lambda strategy: True)
    monkeypatch.setattr(distribute, "gather_from_workers", lambda strategy, value: [value, newest_elsewhere["v"]])
    newest_elsewhere["v"] = 40000  # the other worker was killed while saving step 6: all resume at step 4
    state, weights = ResumableBackup.load(str(tmp_path), strategy=object())
    assert state["step"] == 4 and Path(weights).read_text(encoding="utf-8") == "4"
    newest_elsewhere["v"] = -1  # the other has none: all start afresh
    assert ResumableBackup.load(str(tmp_path), strategy=object()) == (None, None)
    newest_elsewhere["v"] = 20000  # two behind: nothing in common, said in one line
    with pytest.raises(distribute.ClusterError, match="000000002-0000; the workers cannot resume together"):
        ResumableBackup.load(str(tmp_path), strategy=object())


def test_no_mid_epoch_backup_at_an_epochs_last_step(tmp_path):
    """Resuming at (epoch, its last step) would run one step more: the epoch-end backup stands for it."""
    from tf_transformer.callbacks import ResumableBackup

    backup, model = ResumableBackup(str(tmp_path), every_steps=2), _FakeModel()
    backup.set_model(model)
    backup.set_params({"steps": 4})
    for step in range(1, 5):
        model.step = step
        backup.on_train_batch_end(step - 1)
    assert ResumableBackup.load(str(tmp_path))[0] == {"epoch": 0, "step": 2, "global_step": 2}
    backup.on_epoch_end(0)
    assert ResumableBackup.load(str(tmp_path))[0] == {"epoch": 1, "step": 0, "global_step": 4}


# ---- a clean two-worker run and its single-process twin ---------------------------------------------------------


@pytest.fixture(scope="module")
def two_worker_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("two_workers")
    _write_recipe(directory, PER_REPLICA_TOKENS)
    returncode, out, err, seconds = _finish(_launch_local(directory, _free_base_port()))
    logs = [_last_start(directory / "run" / f"worker{index}.log") for index in (0, 1)]
    assert returncode == 0, f"{out}\n{err}\n--- worker0.log:\n{logs[0][-4000:]}\n--- worker1.log:\n{logs[1][-4000:]}"
    print(f"two-worker run: {seconds:.0f} s")
    return {"dir": directory, "run": directory / "run", "out": out, "logs": logs}


@pytest.fixture(scope="module")
def single_process_run(tmp_path_factory):
    """The same recipe and corpus in one process (default strategy) with twice the per-replica budget."""
    directory = tmp_path_factory.mktemp("one_process")
    _write_recipe(directory, 2 * PER_REPLICA_TOKENS, strategy="default")
    process = _start([sys.executable, "-m", "tf_transformer.cli", "train", "--config", "recipe.yaml", "--run-dir",
                      "run"], directory, _env())
    returncode, out, err, seconds = _finish(process)
    assert returncode == 0, out[-3000:] + err[-3000:]
    print(f"single-process run: {seconds:.0f} s")
    return {"dir": directory, "run": directory / "run", "out": out}


def test_two_workers_end_identical_and_equal_to_one_process_with_the_same_global_batch(two_worker_run,
                                                                                          single_process_run):
    chief_log, other_log = two_worker_run["logs"]
    assert _digest(chief_log) == _digest(other_log)  # bit-identical weights on both workers
    assert "2 replica(s) (CollectiveAllReduceStrategy)" in chief_log
    _assert_same_training(two_worker_run["run"] / "model.keras", single_process_run["run"] / "model.keras")
    workers, alone = _history(two_worker_run["run"]), _history(single_process_run["run"])
    assert len(workers) == len(alone) == EPOCHS  # one history row per epoch: one writer
    for row, reference in zip(workers, alone):
        for metric in ("loss", "val_loss"):
            np.testing.assert_allclose(row[metric], reference[metric], rtol=1e-4, err_msg=metric)
    from tf_transformer.config import load_recipe

    data = load_recipe(str(two_worker_run["run"] / "recipe.yaml")).data
    np.testing.assert_allclose(_logits(two_worker_run["run"], data), _logits(single_process_run["run"], data),
                               atol=1e-4)


def test_only_the_chief_writes_and_the_workers_clean_up(two_worker_run, single_process_run):
    run, directory = two_worker_run["run"], two_worker_run["dir"]
    assert (directory / "saved_models" / "spell_backwards_mw").is_dir()
    assert os.listdir(directory / "saved_models" / "spell_backwards_mw") == ["1"]  # one export: the chief's
    assert _leftovers(directory) == []  # worker 1's scratch copies are gone
    names = {name for name in os.listdir(run) if not name.startswith("worker")}
    assert names == set(os.listdir(single_process_run["run"]))  # what one process writes, plus the two logs
    assert {name for name in os.listdir(run) if name.startswith("worker")} == {"worker0.log", "worker1.log"}
    assert sorted(os.listdir(run / "checkpoints")) == [f"epoch-{EPOCHS:03d}.weights.h5"]
    assert "all 2 workers finished" in two_worker_run["out"]


# ---- a worker killed mid-epoch, then the same command again ----------------------------------------------------


def _backup_state(backup_dir):
    """{"epoch", "step", "global_step"} of the newest complete backup in `backup_dir`, or None."""
    try:
        name = (backup_dir / "latest").read_text(encoding="utf-8").split()[0]
        return json.loads((backup_dir / name / "state.json").read_text(encoding="utf-8"))
    except (OSError, IndexError, ValueError):
        return None


def _chief_backup_state(run_dir):
    return _backup_state(run_dir / "backup")


def test_a_killed_worker_stops_the_job_and_the_same_command_resumes_to_the_same_end(tmp_path, two_worker_run):
    _write_recipe(tmp_path, PER_REPLICA_TOKENS)
    base_port = _free_base_port()
    process = _launch_local(tmp_path, base_port)
    pids = {}
    for _ in range(2):  # the launcher names its workers' pids first
        index, pid = re.match(r"worker (\d+): pid (\d+)", process.stdout.readline()).groups()
        pids[int(index)] = int(pid)
    deadline, state = time.monotonic() + TIMEOUT_S, None
    while time.monotonic() < deadline and process.poll() is None:
        # worker 1's own backup (in its scratch directory) too: killed before its first one, both would start over
        states = [_backup_state(tmp_path / "run" / "backup"),
                  _backup_state(tmp_path / "run" / "workertemp_1" / "backup")]
        state = states[0]
        if all(state and state["epoch"] == 0 and 0 < state["step"] <= STEPS - 4 for state in states):
            break
        time.sleep(0.02)
    if process.poll() is not None or not (state and state["epoch"] == 0):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"no mid-epoch backup seen before the run ended: {state}; {process.communicate()}")
    os.kill(pids[1], signal.SIGKILL)
    returncode, out, err, seconds = _finish(process, timeout=120)  # the launcher notices and stops worker 0
    # (_finish kills the launcher's whole session if it does not)
    assert returncode == 128 + signal.SIGKILL, (out, err)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.match(r"error: worker 1 \(pid \d+\) was killed by signal 9", errors[0]), err
    assert str(Path("run") / "worker1.log") in errors[0] and "run the same command again" in errors[0]
    assert seconds < 60, f"the launcher took {seconds:.0f} s to stop the job"
    for pid in pids.values():  # no worker left running
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)

    returncode, out, err, _ = _finish(_launch_local(tmp_path, base_port))  # the same command
    chief_log = _last_start(tmp_path / "run" / "worker0.log")
    assert returncode == 0, f"{out}\n{err}\n{chief_log[-4000:]}"
    resumed = re.search(r"resuming at epoch 1, step (\d+)", chief_log)
    assert resumed and 0 < int(resumed.group(1)) < STEPS, (state, chief_log[-3000:])  # mid-epoch, from a backup
    assert _digest(chief_log) == _digest(_last_start(tmp_path / "run" / "worker1.log"))
    assert len(_history(tmp_path / "run")) == EPOCHS
    # Nothing lost or repeated: the same number of steps, and the weights of the run that was never killed
    # (every step sees the whole of each shard, so the resumed batches hold the same pairs).
    _assert_same_training(tmp_path / "run" / "model.keras", two_worker_run["run"] / "model.keras")
    assert os.listdir(tmp_path / "saved_models" / "spell_backwards_mw") == ["1"] and _leftovers(tmp_path) == []


def test_on_separate_hosts_a_worker_whose_peer_died_stops_by_itself_with_one_line(tmp_path):
    """No launcher watches the workers here (one launch per "host"): the chief notices by itself."""
    _write_recipe(tmp_path, PER_REPLICA_TOKENS)
    base_port = _free_base_port()
    workers = f"127.0.0.1:{base_port},127.0.0.1:{base_port + 1}"
    processes = [_start([str(LAUNCH), "--config", "recipe.yaml", "--run-dir", "run"], tmp_path,
                        _env(WORKERS=workers, INDEX=str(index))) for index in (0, 1)]
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline and processes[0].poll() is None and not _chief_backup_state(
                tmp_path / "run"):
            time.sleep(0.05)
        assert _chief_backup_state(tmp_path / "run"), "no backup before the run ended"
        os.killpg(processes[1].pid, signal.SIGKILL)  # the launcher exec'd the trainer: its session is the worker
        returncode, _, err, seconds = _finish(processes[0], timeout=120)
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert returncode == 2 and len(errors) == 1, (returncode, err[-3000:])
    assert errors[0].startswith("error: worker 0 lost contact with the other workers ("), errors[0]
    assert errors[0].endswith("start every worker again with the same command to resume from the last backup")
    assert seconds < 60, f"the chief took {seconds:.0f} s to notice"


# ---- a worker that cannot reach its peer -----------------------------------------------------------------------


def test_a_worker_that_cannot_reach_its_peer_fails_in_bounded_time_with_one_line(tmp_path):
    """Each started alone, nothing listening on its peer's port: the chief waits for worker 1, worker 1 for the
    chief. TensorFlow alone would wait for ever (the chief) or an hour (worker 1); the startup watchdog prints one
    line and kills the worker after --startup-timeout."""
    recipe = _write_recipe(tmp_path, PER_REPLICA_TOKENS)
    startup_timeout = 20
    processes = []
    try:
        for index in (0, 1):
            ports = [_free_base_port(1)]
            while len(ports) < 2:
                ports += [port for port in [_free_base_port(1)] if port != ports[0]]
            workers = ",".join(f"127.0.0.1:{port}" for port in ports)
            processes.append((index, workers, _start(
                [str(LAUNCH), "--startup-timeout", str(startup_timeout), "--config", str(recipe), "--run-dir",
                 str(tmp_path / f"run{index}")], tmp_path, _env(WORKERS=workers, INDEX=str(index)))))
        for index, workers, process in processes:
            returncode, out, err, _ = _finish(process, timeout=startup_timeout + 300)  # + TensorFlow's import
            errors = [line for line in err.splitlines() if line.startswith("error:")]
            assert returncode == -signal.SIGKILL and len(errors) == 1, (index, returncode, out, err[-3000:])  # killed
            assert errors[0].startswith(f"error: cluster startup: worker {index} could not reach every worker of "
                                        f"TF_CONFIG ({workers.replace(',', ', ')}) within {startup_timeout} s; "
                                        "start every worker"), errors[0]
            assert "check that each host:port is reachable" in errors[0] and "--startup-timeout" in errors[0]
            assert not (tmp_path / f"run{index}" / "model.keras").exists()
    finally:
        for _, _, process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
