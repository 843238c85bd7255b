#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ (clang, with ASan and UBSan) into build-fuzz/ and
# runs each for a bounded time:
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      # default: 60 s each, every target
# Prints the executions, seconds and result of each target; exits 1 when one found a crash,
# a sanitizer report, an uncaught exception, an error message without the file's name, a hang
# or an out-of-memory. The input that did it is kept in build-fuzz/artifacts/TARGET/ and replays
# with build-fuzz/tests/fuzz/fuzz_TARGET FILE (EMBED_FUZZ_VERBOSE=1 prints the errors it meets).
# What the fuzzer learns accumulates in build-fuzz/corpus/TARGET/ from run to run.
# Needs clang and its runtimes (Debian: apt-get install clang libclang-rt-14-dev llvm).
# Environment: EMBED_FUZZ_JOBS targets at a time (default 1), EMBED_FUZZ_BUILD_DIR another build
# directory (CI shares one with scripts/sanitize.sh), EMBED_FUZZ_CMAKE_ARGS more CMake arguments
# when the build directory is configured (CI: no precompiled headers, warnings as errors).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(fasta pickle torch_file safetensors json hdf5_weights output_file)
fi
jobs=${EMBED_FUZZ_JOBS:-1}
build=${EMBED_FUZZ_BUILD_DIR:-build-fuzz}

# What counts as a finding besides crashes and sanitizer reports (libFuzzer's limits):
per_input_timeout=10 # seconds for one input: a hang
rss_limit_mb=2048    # memory of the process, LibTorch's ~0.5 GB included
malloc_limit_mb=1024 # one allocation: readers of inputs this small never need that much

if ! command -v clang++ >/dev/null; then
  echo "fuzz: needs clang with libFuzzer (Debian: apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  # shellcheck disable=SC2086 # a list of arguments, split on spaces
  CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DEMBED_FUZZ=ON \
    ${EMBED_FUZZ_CMAKE_ARGS:-}
fi
cmake --build "$build" -j "$(nproc)" --target fuzz_targets

# Seeds: generated small files of each format, plus the project's own fixtures.
seeds=$build/seeds
rm -rf "$seeds"
"$build/tests/fuzz/fuzz_make_seeds" "$seeds"
mkdir -p "$seeds/pickle" "$seeds/torch_file"
cp tests/data/*.pkl "$seeds/pickle/"
cp tests/data/*.pt tests/data/esm2_tiny_pytorch_bin/pytorch_model.bin "$seeds/torch_file/"
cp tests/data/esm2_tiny/*.pt tests/data/esm1b_tiny/*.pt "$seeds/torch_file/"
cp tests/data/esm2_tiny/hf/model.safetensors "$seeds/safetensors/esm2_tiny.safetensors"
cp tests/data/esm2_tiny/hf/config.json "$seeds/json/esm2_tiny_config.json"
cp tests/data/esm1b_tiny/hf/config.json "$seeds/json/esm1b_tiny_config.json"
cp tests/data/seqvec_tiny/options.json "$seeds/json/seqvec_tiny_options.json"
cp tests/data/allennlp_elmo/options.json "$seeds/json/allennlp_options.json"
cp tests/data/seqvec_tiny/weights.hdf5 "$seeds/hdf5_weights/seqvec_tiny.hdf5"
cp examples/*.fasta "$seeds/fasta/"
cp tests/data/esm2_tiny/input.fasta "$seeds/fasta/esm2_tiny_input.fasta"

export ASAN_OPTIONS=${ASAN_OPTIONS:-}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

# Runs one target; its line of the summary goes to $build/logs/TARGET.result.
fuzz_target() {
  local target=$1
  local binary=$build/tests/fuzz/fuzz_$target
  local corpus=$build/corpus/$target
  local artifacts=$build/artifacts/$target
  local log=$build/logs/$target.log
  mkdir -p "$corpus" "$artifacts"
  local limit=$malloc_limit_mb
  local asan_options=$ASAN_OPTIONS
  local lsan_options=${LSAN_OPTIONS:-}
  if [[ $target == hdf5_weights || $target == output_file ]]; then
    # libhdf5 (not ours, not instrumented) allocates the sizes a damaged file claims for its
    # metadata (e.g. a 3.9 GB local heap) before finding they reach past the end of the file,
    # and then fails cleanly. Let such allocations fail or succeed as with glibc's malloc, and
    # judge by the memory actually used (rss_limit_mb) and by what embed does with the error.
    # Under ASan such an allocation costs real memory (its shadow is poisoned when freed; a
    # 21 GB heap took 2.9 GB), where glibc only maps it: allocations over 1 GB fail instead, as
    # they may on any machine, and libhdf5 must report that cleanly (the plain build of embed
    # reads the same file in 170 MB).
    limit=$((1 << 20))
    asan_options=${asan_options:+$asan_options:}allocator_may_return_null=1:max_allocation_size_mb=1024
    # And leaks a little on some error paths (see the file).
    lsan_options=${lsan_options:+$lsan_options:}suppressions=$PWD/tests/fuzz/hdf5_leaks.supp:print_suppressions=0
  fi
  local start status=0
  start=$(date +%s)
  ASAN_OPTIONS=$asan_options LSAN_OPTIONS=$lsan_options "$binary" -max_total_time="$seconds" \
    -timeout="$per_input_timeout" -rss_limit_mb="$rss_limit_mb" -malloc_limit_mb="$limit" \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" "$seeds/$target" \
    >"$log" 2>&1 || status=$?
  local elapsed=$(($(date +%s) - start))
  local executions result
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [[ -z "$executions" ]]; then
    executions=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#' || true)
  fi
  if ((status == 0)); then
    result="ok ($(find "$corpus" -type f | wc -l) inputs in the corpus)"
  else
    local summary artifact
    summary=$(grep -m1 -E 'SUMMARY|ERROR: libFuzzer|fuzz invariant broken|without the file|terminate called' "$log" ||
      echo "exit status $status")
    artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
    result="FAILED: $summary; input: ${artifact:-none}; log: $log"
  fi
  printf '%-14s %12s %8s  %s\n' "$target" "${executions:-?}" "$elapsed" "$result" \
    >"$build/logs/$target.result"
}

mkdir -p "$build/logs"
rm -f "$build"/logs/*.result
running=0
for target in "${targets[@]}"; do
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_target "$target" &
  running=$((running + 1))
done
wait

printf '%-14s %12s %8s  %s\n' target executions seconds result
failed=0
for target in "${targets[@]}"; do
  result=$build/logs/$target.result
  if [[ ! -f "$result" ]]; then
    echo "$target: FAILED: the fuzz run did not finish; see $build/logs/$target.log" >"$result"
  fi
  cat "$result"
  if grep -q FAILED "$result"; then
    failed=1
  fi
done
exit "$failed"
