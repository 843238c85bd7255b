// Where the model runs: device and number format, CPU threads, and the library versions logged at
// start.
#pragma once

#include <string>

#include <torch/torch.h>

#include "base/names.h"

namespace embed {

/// "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N". An explicit CUDA device
/// that is not available is an error (BadInput), never a silent CPU fallback.
torch::Device select_device(const std::string& spec);

/// --dtype's values: what the model computes in; also the `dtype` attribute's.
inline constexpr NameTable<torch::ScalarType, 3> kComputeDtypeNames{
    {{"float32", torch::kFloat32}, {"bfloat16", torch::kBFloat16}, {"float16", torch::kFloat16}}};

/// Throws BadInput unless the model can compute in `dtype` (one of kComputeDtypeNames) on
/// `device`. float16 needs CUDA: LibTorch's CPU kernels have no half-precision matrix products
/// (bfloat16 runs on both).
void check_compute_dtype(torch::ScalarType dtype, const torch::Device& device);

/// Why bfloat16 matrix products are slow on this CPU, or "" when it multiplies them natively
/// (AVX512_BF16). Without AVX-512, LibTorch falls back to a generic kernel.
std::string slow_cpu_bfloat16();

/// Why OpenBLAS multiplies with less than this CPU has, or "": OPENBLAS_CORETYPE naming AVX2
/// kernels (Haswell, Zen) on a CPU with AVX-512, where OpenBLAS's own choice would be its AVX-512
/// kernels. Names the variable's value; "" when LibTorch does not use OpenBLAS or uses one built
/// for a single CPU (which ignores the variable).
std::string held_back_openblas();

/// "float32", "float16" or "bfloat16".
std::string dtype_name(torch::ScalarType dtype);

/// Casts a model's parameters to `dtype`. Buffers keep their precision: rotary frequencies in
/// 16 bits would put the angles of residue 1000 off by radians.
void cast_parameters(torch::nn::Module& model, torch::ScalarType dtype);

/// Sets LibTorch's intra-op threads and, when LibTorch uses OpenBLAS, OpenBLAS's threads.
void set_cpu_threads(int threads);

/// Keeps freed memory in the process instead of returning it to the kernel at once. Forward
/// passes allocate and free tensors of tens to hundreds of MB many times per batch; with glibc's
/// defaults each one is a fresh mmap whose pages fault in again, which cost 40% of the run time
/// of ESM-2 35M on CPU. Call once, at start-up, before any threads exist.
void keep_freed_memory_for_reuse();

/// Gives the pages of freed heap memory back to the kernel (the blocks stay the heap's). Kept
/// for reuse, freed blocks of one batch's sizes fit the next batch's tensors only in part, and the
/// heap grew as the batches' shapes changed: ESM-2 650M's resident heap went from 980 MB after
/// the first of the first 200 DeepLoc proteins' batches to 1,460 MB after the last, while the
/// memory in use stayed 686 MB. Call between batches; the next faults its pages in again.
void return_freed_memory();

/// "LibTorch 1.13.1, HDF5 1.10.8, spdlog 1.10.0, zlib 1.2.13" and the BLAS in use.
std::string library_versions();

}  // namespace embed
