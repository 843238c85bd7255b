#!/usr/bin/env bash
# Installs what the build needs (Debian 12 / Ubuntu packages, via apt-get, only those missing),
# then configures and builds into build/. Safe to run again. Extra arguments go to CMake, e.g.
#   scripts/setup.sh -DCMAKE_PREFIX_PATH=/opt/libtorch      # an official (CUDA) LibTorch
# Set EMBED_SKIP_APT=1 to skip the package step (no root, or dependencies installed otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake
  libtorch-dev libcli11-dev libhdf5-dev libspdlog-dev libgtest-dev zlib1g-dev libcurl4-openssl-dev
  nlohmann-json3-dev libssl-dev
  # LibTorch's matrix products run on the system BLAS; Debian's default reference BLAS is
  # about 30x slower than OpenBLAS on the same machine.
  libopenblas0-pthread
)

if [[ "${EMBED_SKIP_APT:-0}" != 1 ]]; then
  missing=()
  for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$package")
    fi
  done
  if ((${#missing[@]} > 0)); then
    echo "setup: installing ${missing[*]}" >&2
    sudo=()
    if [[ $(id -u) != 0 ]]; then
      sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j "$(nproc)"
echo "setup: built build/embed" >&2
