#!/usr/bin/env bash
# Stop the daemons that tests/slurm/start_cluster.sh started (their PIDs are in $STATE/pids/), in
# reverse order, and nothing else: a munged or database that was already running stays up.
set -uo pipefail

STATE=${BRAINALIGN_SLURM_STATE:-/tmp/brainalign-slurm}
for name in slurmd slurmctld slurmdbd mariadbd munged; do
    f="$STATE/pids/$name.pid"
    [ -s "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null && grep -q "$name" "/proc/$pid/comm" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { echo "stop_cluster: $name ($pid) ignored SIGTERM; SIGKILL" >&2; kill -9 "$pid"; }
        echo "stop_cluster: stopped $name ($pid)" >&2
    fi
    rm -f "$f"
done
# the link to this cluster's configuration that start_cluster.sh made for clients inside jobs
if [ -L /run/slurm/conf ] && [ "$(readlink /run/slurm/conf)" = "$STATE" ]; then
    rm /run/slurm/conf
fi
