#!/usr/bin/env bash
# Train one recipe on N machines with MultiWorkerMirroredStrategy: run this script once on EVERY host, with the
# same WORKERS list and that host's own INDEX. It writes TF_CONFIG for the host and starts `tf-transformer train`.
#
#   # on host1                                   # on host2
#   WORKERS=host1:12345,host2:12345 INDEX=0 \     WORKERS=host1:12345,host2:12345 INDEX=1 \
#     training/launch_multiworker.sh \              training/launch_multiworker.sh \
#       --config training/configs/transformer_base.yaml --run-dir /shared/runs/base
#
#   # try it on one machine: N local workers on 127.0.0.1 (ports 12345, 12346, ...), logs in worker<i>.log
#   training/launch_multiworker.sh --local 2 --config training/configs/g2p_tiny.yaml --run-dir runs/g2p_mw
#
# The arguments after the script's own are passed to `tf-transformer train` unchanged (--config, --run-dir, --set).
# What each host then runs is, e.g. for INDEX=1:
#   TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 1}}' \
#     tf-transformer train --config training/configs/transformer_base.yaml --run-dir /shared/runs/base
# With `strategy: auto` (the default) a TF_CONFIG naming several workers selects MultiWorkerMirroredStrategy; or set
# `--set training.strategy=multi_worker`. Worker 0 is the chief: it writes the real checkpoints, logs and export in
# --run-dir; the others write to <parent of each directory>/workertemp_<index>/ (deleted at the end) and each
# reads its own shard of the data. The global batch is the per-replica batch times the number of replicas.
# Every worker must reach every other on its port; start all of them within a few minutes of each other. To resume
# a killed run, start the same commands again (each worker restores its own backup).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if command -v tf-transformer >/dev/null; then
    TRAIN=(tf-transformer train)
elif [[ -x "$REPO/.venv/bin/tf-transformer" ]]; then  # `make install` puts it there
    TRAIN=("$REPO/.venv/bin/tf-transformer" train)
else
    TRAIN=(python3 -m tf_transformer.cli train)
fi

tf_config() {  # tf_config WORKERS INDEX -> the TF_CONFIG JSON for that worker
    local workers="" host
    IFS=',' read -ra hosts <<<"$1"
    for host in "${hosts[@]}"; do workers+="${workers:+, }\"${host}\""; done
    printf '{"cluster": {"worker": [%s]}, "task": {"type": "worker", "index": %d}}' "$workers" "$2"
}

if [[ "${1:-}" == "--local" ]]; then
    count="${2:?--local needs a worker count}"
    shift 2
    base_port="${BASE_PORT:-12345}"
    workers=""
    for ((i = 0; i < count; i++)); do workers+="${workers:+,}127.0.0.1:$((base_port + i))"; done
    pids=()
    trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT INT TERM
    for ((i = 0; i < count; i++)); do
        TF_CONFIG="$(tf_config "$workers" "$i")" "${TRAIN[@]}" "$@" >"worker$i.log" 2>&1 &
        pids+=("$!")
        echo "worker $i: pid ${pids[-1]}, log worker$i.log"
    done
    status=0
    for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
    trap - EXIT INT TERM
    exit "$status"
fi

: "${WORKERS:?set WORKERS=host1:port,host2:port,... (the same on every host)}"
: "${INDEX:?set INDEX to the position of this host in WORKERS (0 is the chief)}"
TF_CONFIG="$(tf_config "$WORKERS" "$INDEX")"
export TF_CONFIG
echo "TF_CONFIG=$TF_CONFIG" >&2
exec "${TRAIN[@]}" "$@"
