#!/usr/bin/env bash
# Builds if needed and runs the whole test suite. Tests that need the upstream fixtures in
# ../shared/testdata (or $EMBED_SHARED_DIR) are reported as skipped when those are absent.
# Extra arguments go to ctest, e.g. scripts/test.sh -R Cli
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -f build/CMakeCache.txt ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
fi
cmake --build build -j "$(nproc)"
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
