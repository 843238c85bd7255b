#!/usr/bin/env bash
# Peak memory against input size: embeds N random proteins (30-200 residues) for each N given
# and prints the peak RSS, which must not grow with N (the input streams through bounded
# windows). Per-protein vectors only, so the disk is not the limit.
#
#   scripts/bench_memory.sh MODEL [N...]      (default N: 10000 100000)
set -euo pipefail
model=${1:?usage: scripts/bench_memory.sh MODEL [N...]}
shift
sizes=("${@:-10000 100000}")
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '%10s %12s %14s %10s\n' proteins residues "peak RSS (MB)" seconds
for n in ${sizes[@]}; do
    /usr/bin/python3 - "$n" > "$work/in.fasta" <<'PY'
import random, sys
random.seed(1)
for i in range(int(sys.argv[1])):
    print(f">p{i}\n" + "".join(random.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(random.randint(30, 200))))
PY
    residues=$(grep -v '>' "$work/in.fasta" | tr -d '\n' | wc -c)
    start=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$work/rss" "$root/build/embed" "$work/in.fasta" -o "$work/out.h5" \
        -m "$model" --no-per-residue --overwrite -q
    end=$(date +%s.%N)
    printf '%10s %12s %14.0f %10.1f\n' "$n" "$residues" "$(($(cat "$work/rss") / 1024))" \
        "$(echo "$end - $start" | bc)"
done
