#!/usr/bin/env bash
# Bring up a single-node SLURM cluster on this machine (Debian 12: SLURM 22.05), idempotently:
# munge -> MariaDB -> slurmdbd -> slurmctld -> slurmd, then wait until `sinfo` shows the node idle.
#
# Everything it writes (configs, spool, logs, the database) lives under one state directory,
# $BRAINALIGN_SLURM_STATE (default /tmp/brainalign-slurm); nothing goes to /etc. The PID of every
# daemon it starts is kept in $STATE/pids/, so that tests/slurm/stop_cluster.sh stops exactly those.
# Clients find the cluster through SLURM_CONF=$STATE/slurm.conf, which this script prints last:
#     eval "$(tests/slurm/start_cluster.sh)"      # exports SLURM_CONF
# Needs root (the daemons run as root, munged as user munge). Takes about 15-25 s from cold.
set -euo pipefail

STATE=${BRAINALIGN_SLURM_STATE:-/tmp/brainalign-slurm}
DB_PORT=${BRAINALIGN_SLURM_DB_PORT:-3399}
PARTITION=${BRAINALIGN_SLURM_PARTITION:-debug}
ACCOUNT=${BRAINALIGN_SLURM_ACCOUNT:-brainalign}
NODE=$(hostname -s)
export SLURM_CONF="$STATE/slurm.conf"

log() { echo "start_cluster: $*" >&2; }
die() { log "error: $*"; for f in "$STATE"/log/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done; exit 1; }
for cmd in munged mariadbd mariadb-install-db slurmdbd slurmctld slurmd sinfo sacctmgr; do
    command -v "$cmd" >/dev/null || die "'$cmd' not found: apt-get install slurm-wlm slurmctld slurmd munge slurmdbd mariadb-server"
done
mkdir -p "$STATE"/{pids,log,ctld,spool,mysql-run}

alive() {  # alive NAME: the daemon started by this script under NAME is running
    local f="$STATE/pids/$1.pid"
    [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds
    local limit=$1 what=$2; shift 2
    for _ in $(seq $((limit * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    die "$what did not come up within ${limit} s"
}
pid_from_file() {  # pid_from_file NAME PIDFILE: record a daemon's own PID file under $STATE/pids
    wait_for 10 "$1 (PID file $2)" test -s "$2"
    cp "$2" "$STATE/pids/$1.pid"
}

# ---------------------------------------------------------------- munge (shared by the host)
if ! (munge -n | unmunge) >/dev/null 2>&1; then
    install -d -o munge -g munge -m 0755 /run/munge
    [ -s /etc/munge/munge.key ] || die "/etc/munge/munge.key is missing (reinstall munge)"
    runuser -u munge -- munged
    pid_from_file munged /run/munge/munged.pid
    wait_for 10 munged sh -c 'munge -n | unmunge'
    log "munged started"
fi

# ---------------------------------------------------------------- MariaDB (private instance)
DB_SOCKET="$STATE/mysql-run/mysqld.sock"
if ! alive mariadbd; then
    if [ ! -d "$STATE/mysql/mysql" ]; then
        mariadb-install-db --user=root --datadir="$STATE/mysql" --auth-root-authentication-method=socket \
            >"$STATE/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed (see $STATE/log/mariadb-install.log)"
    fi
    mariadbd --no-defaults --user=root --datadir="$STATE/mysql" --socket="$DB_SOCKET" \
        --pid-file="$STATE/mysql-run/mariadbd.pid" --bind-address=127.0.0.1 --port="$DB_PORT" \
        --innodb-buffer-pool-size=64M --log-error="$STATE/log/mariadbd.log" </dev/null >/dev/null 2>&1 &
    echo $! >"$STATE/pids/mariadbd.pid"
    wait_for 30 mariadbd mariadb --no-defaults --socket="$DB_SOCKET" -e "select 1"
    mariadb --no-defaults --socket="$DB_SOCKET" -e "
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
        CREATE DATABASE IF NOT EXISTS slurm_acct_db;
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
    log "mariadbd started (port $DB_PORT)"
fi

# ---------------------------------------------------------------- configs
MEM=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
CPUS=$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p')
cat >"$STATE/slurm.conf" <<CONF
ClusterName=brainalign
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
# no cgroups on this kind of machine
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without a default, one job without --mem would take the whole node
DefMemPerCPU=1000
MinJobAge=600
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MpiDefault=none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
# sacct shows the comment, where the executor plugin writes the rule and wildcards of a job
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/log/jobcomp.txt
NodeName=$NODE CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
cat >"$STATE/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
CONF
chmod 600 "$STATE/slurmdbd.conf"
# Inside a job, the executor plugin runs each rule through `srun` with every SLURM_* variable but
# the job's identity removed, SLURM_CONF included; SLURM clients then look for the configuration
# at /etc/slurm/slurm.conf and at /run/slurm/conf/slurm.conf (the configless layout). The latter
# points here while this cluster runs (stop_cluster.sh removes it); /etc is left alone.
RUN_CONF=/run/slurm/conf
if [ -L "$RUN_CONF" ] && [ "$(readlink "$RUN_CONF")" != "$STATE" ] && [ -e "$RUN_CONF/slurm.conf" ] \
        && SLURM_CONF="$RUN_CONF/slurm.conf" scontrol ping >/dev/null 2>&1; then
    die "$RUN_CONF points to $(readlink "$RUN_CONF"), the configuration of another running cluster"
elif [ -e "$RUN_CONF" ] && [ ! -L "$RUN_CONF" ]; then
    die "$RUN_CONF exists and is not a link this script made"
fi
mkdir -p /run/slurm && ln -sfn "$STATE" "$RUN_CONF"

# ---------------------------------------------------------------- SLURM daemons
if ! alive slurmdbd; then
    slurmdbd
    pid_from_file slurmdbd "$STATE/slurmdbd.pid"
    wait_for 30 slurmdbd sacctmgr -n show cluster
    sacctmgr -i add cluster brainalign >/dev/null 2>&1 || true
    sacctmgr -i add account "$ACCOUNT" >/dev/null 2>&1 || true
    sacctmgr -i add user "$(id -un)" account="$ACCOUNT" >/dev/null 2>&1 || true
    log "slurmdbd started"
fi
if ! alive slurmctld; then
    slurmctld
    pid_from_file slurmctld "$STATE/slurmctld.pid"
    wait_for 30 slurmctld scontrol ping
    log "slurmctld started"
fi
if ! alive slurmd; then
    slurmd
    pid_from_file slurmd "$STATE/slurmd.pid"
    log "slurmd started"
fi
idle() { sinfo -h -n "$NODE" -o %t | grep -qx idle; }
wait_for 60 "node $NODE (idle in sinfo)" idle
log "node $NODE idle, partition $PARTITION, account $ACCOUNT"
echo "export SLURM_CONF=$SLURM_CONF"
