#!/usr/bin/env bash
# Stop the daemons that tests/slurm/start_cluster.sh started (their PIDs are in $STATE/pids/), and
# nothing else: a munged or database that was already running stays up. In three steps: the SLURM
# daemons, then slurmdbd (which takes their last records), then MariaDB and munged.
set -uo pipefail

STATE=${BRAINALIGN_SLURM_STATE:-/tmp/brainalign-slurm}

stop() {  # stop NAME...: SIGTERM each started daemon still running, wait for all (SIGKILL after 10 s)
    local name f pid pids=()
    for name in "$@"; do
        f="$STATE/pids/$name.pid"
        [ -s "$f" ] || continue
        pid=$(cat "$f")
        rm -f "$f"
        if kill -0 "$pid" 2>/dev/null && grep -q "$name" "/proc/$pid/comm" 2>/dev/null; then
            kill "$pid" && pids+=("$pid") && echo "stop_cluster: stopping $name ($pid)" >&2
        fi
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { echo "stop_cluster: $pid ignored SIGTERM; SIGKILL" >&2; kill -9 "$pid"; }
    done
    return 0
}
stop slurmd slurmctld
stop slurmdbd
stop mariadbd munged
# the link to this cluster's configuration that start_cluster.sh made for clients inside jobs
if [ -L /run/slurm/conf ] && [ "$(readlink /run/slurm/conf)" = "$STATE" ]; then
    rm /run/slurm/conf
fi
