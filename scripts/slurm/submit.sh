#!/bin/bash
# Submits the array job and its merge in one go:
#
#   scripts/slurm/submit.sh SHARDS INPUT.fasta OUT_DIR OUTPUT.h5 [embed options...]
#
# e.g. scripts/slurm/submit.sh 20 uniref50.fasta shards/ uniref50.h5 -m esm2_t33_650M_UR50D
# Run `embed download MODEL` first where there is internet (the compute nodes may have none).
set -euo pipefail
if (($# < 4)); then
    echo "usage: $0 SHARDS INPUT.fasta OUT_DIR OUTPUT.h5 [embed options...]" >&2
    exit 2
fi
shards=$1 input=$2 out=$3 final=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
array=$(sbatch --parsable --array=1-"$shards" "$here/embed_array.sbatch" "$input" "$out" "$@")
merge=$(sbatch --parsable --dependency=afterok:"$array" "$here/merge.sbatch" "$out" "$final")
echo "array job $array ($shards shards), merge job $merge -> $final"
