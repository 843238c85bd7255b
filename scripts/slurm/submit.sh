#!/bin/bash
# Submits the array job and its merge in one go:
#
#   scripts/slurm/submit.sh [SBATCH_OPTION...] SHARDS INPUT.fasta OUT_DIR OUTPUT.h5 [embed options...]
#
# e.g. scripts/slurm/submit.sh 20 uniref50.fasta shards/ uniref50.h5 -m esm2_t33_650M_UR50D
#      scripts/slurm/submit.sh --cpus-per-task=4 --mem=8G 20 uniref50.fasta shards/ uniref50.h5
# Options before SHARDS (as --name=value) go to the array job's sbatch and override the
# resources in embed_array.sbatch; $SBATCH_PARTITION, $SBATCH_ACCOUNT etc. apply to both jobs.
# Run `embed download MODEL` first where there is internet (the compute nodes may have none).
set -euo pipefail
usage="usage: $0 [SBATCH_OPTION...] SHARDS INPUT.fasta OUT_DIR OUTPUT.h5 [embed options...]"
sbatch_options=()
while (($# > 0)) && [[ $1 == -* ]]; do
    sbatch_options+=("$1")
    shift
done
if (($# < 4)); then
    echo "$usage" >&2
    exit 2
fi
shards=$1 input=$2 out=$3 final=$4
shift 4
if ! [[ $shards =~ ^[1-9][0-9]*$ ]]; then
    echo "$0: SHARDS must be a positive number, not '$shards' (sbatch options go before it," \
        "written as --name=value)" >&2
    echo "$usage" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
# --parsable prints "ID" or, on a multi-cluster setup, "ID;CLUSTER".
array=$(sbatch --parsable --array=1-"$shards" ${sbatch_options[@]+"${sbatch_options[@]}"} \
    "$here/embed_array.sbatch" "$input" "$out" "$@")
array=${array%%;*}
merge=$(sbatch --parsable --dependency=afterok:"$array" "$here/merge.sbatch" "$out" "$final")
merge=${merge%%;*}
echo "array job $array ($shards shards), merge job $merge -> $final"
