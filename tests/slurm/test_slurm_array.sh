#!/usr/bin/env bash
# End-to-end test of scripts/slurm/ on a real Slurm: starts a throwaway single-node cluster
# (its own munged, slurmctld and slurmd, in a temporary directory, on free ports), submits
# scripts/slurm/submit.sh as a 3-task array on the tiny ESM-2 with its merge, and compares the
# merged file with a single `embed` run on the same input.
#
#   tests/slurm/test_slurm_array.sh EMBED_EXECUTABLE SOURCE_DIR
#
# Exit status 0: passed; 1: failed; 77: skipped, saying why (not root, Slurm or munge not
# installed, no ../shared test data). Needs Debian's slurm-wlm, munge, python3-h5py and
# python3-numpy. The daemons are stopped and the directory removed on every exit;
# EMBED_TEST_KEEP=1 keeps the directory (logs, outputs) for a look after a failure.
set -euo pipefail

readonly SKIPPED=77
readonly SHARDS=3
readonly TIME_LIMIT_S=120  # the whole test, which takes about 15 s; below ctest's TIMEOUT
readonly PYTHON=/usr/bin/python3  # Debian's, with python3-h5py; not a virtualenv's

log() { printf '[slurm test %3ds] %s\n' "$SECONDS" "$*" >&2; }
skip() {
    echo "SKIPPED: SlurmArrayJob: $*" >&2
    exit "$SKIPPED"
}
fail() {
    echo "FAILED: SlurmArrayJob: $*" >&2
    exit 1
}

if (($# != 2)); then
    echo "usage: $0 EMBED_EXECUTABLE SOURCE_DIR" >&2
    exit 2
fi
embed=$(realpath "$1")
source_dir=$(realpath "$2")
shared=$(realpath -m "${EMBED_SHARED_DIR:-$source_dir/../shared}")
model=$source_dir/tests/data/esm2_tiny/esm2_tiny.pt
# 115 proteins, 29,704 residues; one longer than ESM-2's 1022, read in windows
input=$shared/data/cb513_ts115/TS115.fasta

# --- what the test needs, or a skip that says what is missing --------------------------------
if ((EUID != 0)); then
    skip "needs root to start its own munged, slurmctld and slurmd (running as uid $EUID)"
fi
PATH=$PATH:/usr/sbin:/sbin
missing=()
for command in munged mungekey munge unmunge slurmctld slurmd sbatch squeue sinfo scontrol scancel; do
    command -v "$command" >/dev/null || missing+=("$command")
done
if ((${#missing[@]} > 0)); then
    skip "${missing[*]} not found (apt-get install slurm-wlm munge)"
fi
if ! "$PYTHON" -c 'import h5py, numpy' 2>/dev/null; then
    skip "$PYTHON cannot import h5py and numpy (apt-get install python3-h5py python3-numpy)"
fi
if [[ ! -f $model || ! -f $input ]]; then
    skip "the tiny model or the input is absent: $model, $input (set EMBED_SHARED_DIR)"
fi
[[ -x $embed ]] || fail "$embed is not an executable"

# --- the cluster's directory, and its removal on every exit -----------------------------------
# Run inside a real job, the outer cluster's settings (SBATCH_PARTITION, SLURM_CPUS_PER_TASK,
# ...) would reach this cluster's jobs and embed: none of them is kept.
while read -r variable; do
    unset "$variable"
done < <(compgen -e | grep -E '^(SLURM|SBATCH|SALLOC|SRUN|SQUEUE|SINFO|SCONTROL)_' || true)
dir=
munged_pid='' slurmctld_pid='' slurmd_pid=''

# Processes of this cluster that outlive slurmd (a job's slurmstepd and what it runs) still
# carry its SLURM_CONF in their environment: found by that, ended by their id.
cluster_processes() {
    local environ pid
    for environ in /proc/[0-9]*/environ; do
        pid=${environ#/proc/}
        pid=${pid%/environ}
        [[ $pid != "$$" && $pid != "$BASHPID" ]] || continue
        # grep -z: the environment's entries end in NUL
        if grep -qzxF "SLURM_CONF=$SLURM_CONF" "$environ" 2>/dev/null; then
            echo "$pid"
        fi
    done
}

alive() {  # PID: running, not a zombie
    local stat
    [[ -n $1 ]] || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

stop() {  # PID...: TERM, up to 10 s, then KILL
    local pid i running
    (($# > 0)) || return 0
    kill -TERM "$@" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        running=0
        for pid in "$@"; do
            alive "$pid" && running=1
        done
        ((running)) || return 0
        sleep 0.1
    done
    kill -KILL "$@" 2>/dev/null || true
}

# A client command that cannot hang: with the controller gone, Slurm's clients retry for long.
client() { timeout 20 "$@"; }

cleanup() {
    local status=$? i
    set +e
    trap - EXIT INT TERM
    [[ -n $dir ]] || exit "$status"
    if ((status != 0)); then
        for f in "$dir"/log/*.log "$dir"/work/*.log; do
            [[ -f $f ]] || continue
            echo "---- last lines of ${f#"$dir"/}" >&2
            tail -n 15 "$f" >&2
        done
    fi
    # Jobs first, while the daemons can still end them (slurmstepd outlives slurmd).
    if alive "$slurmctld_pid" && alive "$slurmd_pid"; then
        timeout 10 scancel --quiet --user=root 2>/dev/null
        for ((i = 0; i < 20; i++)); do
            [[ -z $(timeout 5 squeue -h -o %i 2>/dev/null) ]] && break
            sleep 0.5
        done
    fi
    stop "$slurmd_pid"
    stop "$slurmctld_pid"
    stop "$munged_pid"
    mapfile -t leftover < <(cluster_processes)
    if ((${#leftover[@]} > 0)); then
        echo "ending what is left of the cluster: ${leftover[*]}" >&2
        kill -KILL "${leftover[@]}" 2>/dev/null
    fi
    wait 2>/dev/null
    if [[ ${EMBED_TEST_KEEP:-0} == 1 ]]; then
        echo "kept $dir" >&2
    else
        rm -rf "$dir"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'echo "SlurmArrayJob: interrupted" >&2; exit 130' INT
trap 'echo "SlurmArrayJob: terminated" >&2; exit 143' TERM
dir=$(mktemp -d "${TMPDIR:-/tmp}/embed-slurm.XXXXXX")
export SLURM_CONF=$dir/slurm.conf

# COMMAND...: polls until it succeeds, failing with WHAT once the time limit is reached.
wait_until() {
    local what=$1
    shift
    until "$@"; do
        if ((SECONDS >= TIME_LIMIT_S)); then
            fail "timed out after ${SECONDS}s waiting for $what; squeue:" \
                "$(client squeue 2>&1 | tr '\n' ';')"
        fi
        sleep 0.5
    done
}

# --- munge, on its own socket -----------------------------------------------------------------
mkdir -p "$dir"/{munge,state,spool,run,log,work}
# munged wants every directory above its socket searchable by all (clients of any user).
chmod 755 "$dir" "$dir/munge"
mungekey --create --keyfile="$dir/munge/munge.key"
munge_socket=$dir/munge/munge.socket
munged --foreground --socket="$munge_socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed" >"$dir/log/munged.out" 2>&1 &
munged_pid=$!
munge_works() {
    alive "$munged_pid" || fail "munged stopped: $(cat "$dir/log/munged.out")"
    munge --socket="$munge_socket" --no-input 2>/dev/null |
        unmunge --socket="$munge_socket" >/dev/null 2>&1
}
wait_until "munged" munge_works
log "munged is up on $munge_socket"

# --- slurmctld and slurmd ---------------------------------------------------------------------
# This machine as `slurmd -C` sees it, less the name: CPUs=... Boards=... RealMemory=...
hardware=$(slurmd -C | sed -n 's/^NodeName=[^ ]* //p')
[[ $hardware == *CPUs=*RealMemory=* ]] || fail "slurmd -C gave no hardware: $(slurmd -C)"

free_ports() {  # two TCP ports nothing listens on
    "$PYTHON" -c '
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets:
    s.bind(("", 0))
print(*(s.getsockname()[1] for s in sockets))'
}

daemons_alive() { alive "$slurmctld_pid" && alive "$slurmd_pid"; }
node_state() { client sinfo -h -n localhost -o %T 2>/dev/null; }
node_idle() {
    daemons_alive || return 2
    [[ $(node_state) == idle ]]
}

# A port taken between free_ports and the daemons' bind (another test's server) makes a
# daemon exit: then the cluster starts again on other ports.
for attempt in 1 2 3; do
    read -r ctld_port slurmd_port < <(free_ports)
    sed -e "s|@DIR@|$dir|g" -e "s|@CTLD_PORT@|$ctld_port|g" \
        -e "s|@SLURMD_PORT@|$slurmd_port|g" -e "s|@MUNGE_SOCKET@|$munge_socket|g" \
        -e "s|@NODE_HARDWARE@|$hardware|g" "$source_dir/tests/slurm/slurm.conf.in" >"$SLURM_CONF"
    slurmctld -D -c -i >"$dir/log/slurmctld.out" 2>&1 &
    slurmctld_pid=$!
    slurmd -D -N localhost >"$dir/log/slurmd.out" 2>&1 &
    slurmd_pid=$!
    while :; do
        status=0
        node_idle || status=$?
        ((status == 1)) || break
        ((SECONDS < TIME_LIMIT_S)) || fail "timed out waiting for the node: $(node_state)"
        sleep 0.5
    done
    ((status == 0)) && break
    log "a daemon stopped (attempt $attempt, ports $ctld_port and $slurmd_port); starting again"
    stop "$slurmd_pid" "$slurmctld_pid"
    rm -rf "${dir:?}"/{state,spool}/*
done
((status == 0)) || fail "slurmctld or slurmd would not start: $(tail -n 5 "$dir"/log/slurm*.out)"
log "slurmctld (port $ctld_port) and slurmd (port $slurmd_port) are up, node idle: $hardware"

# --- the array job and its merge, as the README submits them ----------------------------------
cd "$dir/work"
export EMBED=$embed
# 1 CPU and 1 GB a task instead of embed_array.sbatch's 8 and 16G, which this node may not have.
submitted=$("$source_dir/scripts/slurm/submit.sh" --cpus-per-task=1 --mem=1G \
    "$SHARDS" "$input" shards merged.h5 -m "$model")
log "submit.sh: $submitted"
if ! [[ $submitted =~ ^array\ job\ ([0-9]+)\ .*merge\ job\ ([0-9]+) ]]; then
    fail "cannot read the job ids from submit.sh's output"
fi
array=${BASH_REMATCH[1]} merge=${BASH_REMATCH[2]}

dependency=$(client scontrol show job -o "$merge" | grep -o 'Dependency=[^ ]*')
[[ $dependency == "Dependency=afterok:${array}_*"* ]] ||
    fail "merge job $merge: $dependency, expected afterok on array job $array"

job_state() { client scontrol show job -o "$1" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 | sort -u; }
job_summary() {  # JOB: its state and why, one entry per job or array task
    client scontrol show job -o "$1" |
        grep -oE '^JobId=[^ ]*|(ArrayTaskId|JobState|Reason|ExitCode|Dependency)=[^ ]*' |
        paste -sd ' ' | sed 's/ JobId=/; JobId=/g'
}
merge_finished() {
    daemons_alive || fail "slurmctld or slurmd stopped"
    case $(job_state "$merge") in
        COMPLETED) return 0 ;;
        PENDING)
            if client scontrol show job -o "$merge" | grep -q 'Reason=DependencyNeverSatisfied'; then
                fail "merge job $merge will never run: a task of array job $array failed"
            fi
            return 1
            ;;
        RUNNING | CONFIGURING | COMPLETING) return 1 ;;
        *) fail "merge job $merge ended: $(job_summary "$merge"); array job: $(job_summary "$array")" ;;
    esac
}
wait_until "array job $array and merge job $merge" merge_finished
log "merge job $merge completed"

# Every task of the array ran, completed, and embedded its own shard.
tasks=$(client scontrol show job -o "$array" | grep -o 'ArrayTaskId=[^ ]* .*JobState=[A-Z_]*' |
    sed 's/ArrayTaskId=\([^ ]*\) .*JobState=/\1 /' | sort -n)
expected_tasks=$(for ((i = 1; i <= SHARDS; i++)); do echo "$i COMPLETED"; done)
[[ $tasks == "$expected_tasks" ]] || fail "array job $array tasks: $tasks"
shard_files=()
for ((i = 1; i <= SHARDS; i++)); do
    task_log=embed_${array}_${i}.log
    [[ -f $task_log ]] || fail "no log of array task $i ($task_log)"
    # The task's own output; compare_outputs.py checks that it says shard i of SHARDS.
    grep -qF "shards/shard_$i.h5" "$task_log" || fail "$task_log does not name shards/shard_$i.h5"
    [[ -f shards/shard_$i.h5 ]] || fail "array task $i wrote no shards/shard_$i.h5"
    shard_files+=("shards/shard_$i.h5")
    log "task $i: $(grep -o "expected output: .*" "$task_log" || tail -n 1 "$task_log")"
done
[[ ! -e shards/shard_$((SHARDS + 1)).h5 && -f merged.h5 ]] || fail "unexpected files: $(ls -R)"

# --- the same input in one run, and the comparison --------------------------------------------
"$embed" "$input" -o single.h5 -m "$model" -q 2>single.log || fail "single run: $(cat single.log)"
"$PYTHON" "$source_dir/tests/slurm/compare_outputs.py" merged.h5 single.h5 "${shard_files[@]}" ||
    fail "the merged array job differs from the single run"
log "passed"
