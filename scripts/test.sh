#!/usr/bin/env bash
# Builds if needed and runs the whole test suite. The tests of the released models, which need
# their reference outputs in ../shared/testdata (or $EMBED_SHARED_DIR) and their weights, are
# reported as skipped without them. Extra arguments go to ctest: a label (unit, cli, parity,
# real_model, gpu, slow, slurm), e.g. scripts/test.sh -L unit or -LE slow, or a name, -R Fasta.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -f build/CMakeCache.txt ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
fi
cmake --build build -j "$(nproc)"
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
