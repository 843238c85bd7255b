// Where the model runs: device choice, CPU threads, and the library versions logged at start.
#pragma once

#include <torch/torch.h>

#include <string>

namespace embed {

/// "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N". An explicit CUDA device
/// that is not available is an error (std::invalid_argument), never a silent CPU fallback.
torch::Device select_device(const std::string& spec);

/// CPUs this process may run on (its affinity mask, which Slurm and taskset set).
int available_cpus();

/// Sets LibTorch's intra-op threads and, when LibTorch uses OpenBLAS, OpenBLAS's threads.
void set_cpu_threads(int threads);

/// "LibTorch 1.13.1, HDF5 1.10.8, spdlog 1.10.0, zlib 1.2.13" and the BLAS in use.
std::string library_versions();

}  // namespace embed
