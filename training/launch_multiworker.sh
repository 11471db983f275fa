#!/usr/bin/env bash
# Train one recipe on N machines with MultiWorkerMirroredStrategy: run this script once on EVERY host, with the
# same WORKERS list and that host's own INDEX. It writes TF_CONFIG for the host and starts `tf-transformer train`.
#
#   # on host1                                   # on host2
#   WORKERS=host1:12345,host2:12345 INDEX=0 \     WORKERS=host1:12345,host2:12345 INDEX=1 \
#     training/launch_multiworker.sh \              training/launch_multiworker.sh \
#       --config training/configs/transformer_base.yaml --run-dir /shared/runs/base
#
#   # try it on one machine: N local workers on 127.0.0.1 (ports BASE_PORT, BASE_PORT+1, ...; BASE_PORT=12345)
#   training/launch_multiworker.sh --local 2 --config training/configs/g2p_tiny.yaml --run-dir runs/g2p_mw
#
# Options of this script, before the `tf-transformer train` arguments:
#   --local N              start N workers on this machine and watch them (below)
#   --log-dir DIR          with --local: where worker<i>.log go (appended to, one header line per start); default
#                          the --run-dir given to train, else the current directory
#   --startup-timeout S    a worker that has not seen every other worker within S seconds of starting gives up:
#                          one line "error: cluster startup: ...", and its watchdog kills it (exit status 137)
#                          (default 600; 0 waits forever); sets TF_TRANSFORMER_STARTUP_TIMEOUT
# The arguments after these are passed to `tf-transformer train` unchanged (--config, --run-dir, --set).
#
# With --local the script waits for its workers. When one dies (killed, or exits with an error) it stops the others
# (SIGTERM, then SIGKILL after 5 s: TensorFlow catches SIGTERM) and exits with the dead worker's status and one
# line naming it and its log. On N hosts nothing watches the others: a worker whose peer died stops by itself
# (TensorFlow aborts its collectives when the connection drops, or after ~10 s without the peer's heartbeats;
# `tf-transformer train` ends with status 2 and "error: worker <i> lost contact with the other workers ...").
#
# What each host then runs is, e.g. for INDEX=1:
#   TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 1}}' \
#     tf-transformer train --config training/configs/transformer_base.yaml --run-dir /shared/runs/base
# With `strategy: auto` (the default) a TF_CONFIG naming several workers selects MultiWorkerMirroredStrategy; or set
# `--set training.strategy=multi_worker`. Worker 0 is the chief: it writes the real checkpoints, logs and export in
# --run-dir; the others write to <parent of each directory>/workertemp_<index>/ (deleted at the end) and each
# reads its own shard of the data. The global batch is the per-replica batch (data.tokens_per_batch) times the
# number of replicas. Every worker must reach every other on its port; start all of them within --startup-timeout
# of each other. To resume a killed run, start the same commands again: the workers resume together from the
# newest backup (training.backup_every_steps) that all of them hold.
# Needs bash >= 4.3 (wait -n).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if command -v tf-transformer >/dev/null; then
    TRAIN=(tf-transformer train)
elif [[ -x "$REPO/.venv/bin/tf-transformer" ]]; then  # `make install` puts it there
    TRAIN=("$REPO/.venv/bin/tf-transformer" train)
else
    TRAIN=(python3 -m tf_transformer.cli train)
fi

fail() {  # fail MESSAGE: the script's own usage errors, one line, status 2
    echo "error: launch_multiworker.sh: $1" >&2
    exit 2
}

tf_config() {  # tf_config WORKERS INDEX -> the TF_CONFIG JSON for that worker
    local workers="" host
    IFS=',' read -ra hosts <<<"$1"
    for host in "${hosts[@]}"; do workers+="${workers:+, }\"${host}\""; done
    printf '{"cluster": {"worker": [%s]}, "task": {"type": "worker", "index": %d}}' "$workers" "$2"
}

count="" log_dir=""
while (($#)); do
    case "$1" in
        --local)
            [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || fail "--local expects a worker count (1, 2, ...), got '${2:-}'"
            count="$2"
            shift 2 ;;
        --log-dir)
            [[ -n "${2:-}" ]] || fail "--log-dir expects a directory"
            log_dir="$2"
            shift 2 ;;
        --startup-timeout)
            [[ "${2:-}" =~ ^[0-9]+([.][0-9]+)?$ ]] ||
                fail "--startup-timeout expects seconds (0 waits forever), got '${2:-}'"
            export TF_TRANSFORMER_STARTUP_TIMEOUT="$2"
            shift 2 ;;
        *) break ;;
    esac
done

if [[ -z "$count" ]]; then
    : "${WORKERS:?set WORKERS=host1:port,host2:port,... (the same on every host)}"
    : "${INDEX:?set INDEX to the position of this host in WORKERS (0 is the chief)}"
    TF_CONFIG="$(tf_config "$WORKERS" "$INDEX")"
    export TF_CONFIG
    echo "TF_CONFIG=$TF_CONFIG" >&2
    exec "${TRAIN[@]}" "$@"
fi

# ---- --local N: N workers on 127.0.0.1, watched -------------------------------------------------------------------
if [[ -z "$log_dir" ]]; then  # the run directory given to train, else here
    log_dir="."
    args=("$@")
    for ((i = 0; i < ${#args[@]}; i++)); do
        case "${args[i]}" in
            --run-dir) log_dir="${args[i + 1]:-.}" ;;
            --run-dir=*) log_dir="${args[i]#--run-dir=}" ;;
        esac
    done
fi
mkdir -p "$log_dir"
base_port="${BASE_PORT:-12345}"
[[ "$base_port" =~ ^[0-9]+$ ]] || fail "BASE_PORT expects a port number, got '$base_port'"
workers=""
for ((i = 0; i < count; i++)); do workers+="${workers:+,}127.0.0.1:$((base_port + i))"; done

pids=() done_workers=()
stop_workers() {  # SIGTERM every worker still running, SIGKILL after 5 s (TensorFlow's preemption handler
    local pid t           # catches SIGTERM, and a worker blocked in a collective never gets to exit)
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for ((t = 0; t < 50; t++)); do
        [[ -z "$(jobs -rp)" ]] && break
        sleep 0.1
    done
    for pid in $(jobs -rp); do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap 'stop_workers; echo "launch_multiworker.sh: interrupted; stopped the workers" >&2; exit 130' INT TERM

for ((i = 0; i < count; i++)); do
    log="$log_dir/worker$i.log"
    echo "==== $(date -u '+%Y-%m-%dT%H:%M:%SZ') worker $i of $count starting: ${TRAIN[*]} $*" >>"$log"
    TF_CONFIG="$(tf_config "$workers" "$i")" "${TRAIN[@]}" "$@" >>"$log" 2>&1 &
    pids+=("$!")
    echo "worker $i: pid ${pids[-1]}, log $log"
done

describe() {  # describe STATUS -> "exited with status N" or "was killed by signal N (NAME)"
    if (($1 > 128)); then
        echo "was killed by signal $(($1 - 128)) ($(kill -l "$(($1 - 128))" 2>/dev/null || echo '?'))"
    else
        echo "exited with status $1"
    fi
}

running=$count
while ((running)); do
    status=0
    wait -n || status=$?
    running=0
    for ((i = 0; i < count; i++)); do
        if kill -0 "${pids[i]}" 2>/dev/null; then
            running=$((running + 1))
        elif [[ -z "${done_workers[i]:-}" ]]; then  # this one just ended (wait -n reaps one per call)
            done_workers[i]=1
            if ((status)); then
                log="$log_dir/worker$i.log"
                reason="$(grep '^error: ' "$log" 2>/dev/null | tail -n 1 || true)"
                stop_workers
                trap - INT TERM
                echo "error: worker $i (pid ${pids[i]}) $(describe "$status")${reason:+ (${reason#error: })};" \
                     "stopped the other workers; its log: $log; to resume, run the same command again" >&2
                exit "$status"
            fi
        fi
    done
done
trap - INT TERM
echo "all $count workers finished; logs in $log_dir/worker<i>.log"
