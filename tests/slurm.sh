#!/usr/bin/env bash
# tests/slurm.sh: a real one-node Slurm on this machine for the Slurm
# sweep test: munged, slurmctld and slurmd with their keys, configuration,
# state and logs in a scratch directory, on ports of their own; runs
#   COMMAND... with SLURM_CONF pointing at it, then stops the daemons
# (always, on failure too). The README's "Slurm on a laptop" is the same.
#
# usage: slurm.sh COMMAND [ARGS]     (as root: slurmd starts jobs as their user)
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "slurm: slurmd must run as root to start jobs; run this test as root (skipped)" >&2
    exit 77
fi
for p in munged slurmctld slurmd sbatch squeue sinfo; do
    command -v "$p" >/dev/null || { echo "slurm: $p is missing (setup.sh installs slurm-wlm and munge)" >&2; exit 1; }
done

scratch=$(mktemp -d /tmp/gradus-slurm.XXXXXX)
pids=()
stop() {
    local st=$?
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [[ $st -ne 0 ]]; then
        for f in "$scratch"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2 || true; done
    fi
    rm -rf "$scratch"
    exit $st
}
trap stop EXIT

# munge: a key of our own and a socket in the scratch dir
dd if=/dev/urandom of="$scratch/munge.key" bs=1024 count=1 status=none
chmod 400 "$scratch/munge.key"
chmod 755 "$scratch"   # munged wants its socket's directory searchable by all
munged --foreground --force --key-file="$scratch/munge.key" --socket="$scratch/munge.sock" \
    --pid-file="$scratch/munged.pid" --log-file="$scratch/munged.log" \
    --seed-file="$scratch/munged.seed" >"$scratch/munged.out" 2>&1 &
pids+=($!)

# two free ports, away from Slurm's defaults (6817, 6818)
port=$((20000 + $$ % 20000))
host=$(hostname -s)
mkdir -p "$scratch/state" "$scratch/spool"
cat > "$scratch/slurm.conf" <<CONF
ClusterName=gradus
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$scratch/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$scratch/state
SlurmdSpoolDir=$scratch/spool
SlurmctldPidFile=$scratch/slurmctld.pid
SlurmdPidFile=$scratch/slurmd.pid
SlurmctldLogFile=$scratch/slurmctld.log
SlurmdLogFile=$scratch/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
PlugStackConfig=$scratch/plugstack.conf
NodeName=gradusnode NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
: > "$scratch/plugstack.conf"
export SLURM_CONF=$scratch/slurm.conf

for i in $(seq 50); do [[ -S $scratch/munge.sock ]] && break; sleep 0.1; done
slurmctld -D -c -f "$SLURM_CONF" >"$scratch/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N gradusnode -f "$SLURM_CONF" >"$scratch/slurmd.out" 2>&1 &
pids+=($!)

# wait (at most 30 s) for the node to take jobs
for i in $(seq 150); do
    state=$(sinfo -h -N -o %T 2>/dev/null || true)
    [[ $state == idle ]] && break
    sleep 0.2
done
[[ $state == idle ]] || { echo "slurm: the node did not come up (state '$state')" >&2; exit 1; }

"$@"
