#!/usr/bin/env bash
# Builds everything with AddressSanitizer and UndefinedBehaviorSanitizer (clang, as the fuzz
# targets are) into build-sanitize/ and runs the test suite under them; any report fails the
# test that met it. Extra arguments go to ctest, e.g. scripts/sanitize.sh -L unit, or -LE slow
# (CI) to leave out the tests that run the executable many times over.
# Needs clang and its runtimes (Debian: apt-get install clang libclang-rt-14-dev llvm).
# EMBED_SANITIZE_BUILD_DIR picks another build directory: CI runs this in scripts/fuzz.sh's
# build-fuzz/, whose configuration includes this one, so the project is built once for both.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${EMBED_SANITIZE_BUILD_DIR:-build-sanitize}
if ! command -v clang++ >/dev/null; then
  echo "sanitize: needs clang (Debian: apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DEMBED_SANITIZE=ON
fi
cmake --build "$build" -j "$(nproc)"

# LibTorch, HDF5 and OpenBLAS are not instrumented, and need no suppressions: ASan's defaults
# (leak checking included) hold for the whole suite.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" "$@"
