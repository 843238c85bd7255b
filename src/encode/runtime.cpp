#include "encode/runtime.h"

#include <cstdlib>
#include <malloc.h>
#include <regex>
#include <stdexcept>

#include <hdf5.h>
#include <spdlog/version.h>
#include <torch/version.h>
#include <zlib.h>

#include "base/errors.h"
#include "kernels/parallel.h"
#include "kernels/simd.h"

// Null when LibTorch is linked against another BLAS than OpenBLAS.
extern "C" char* openblas_get_config() __attribute__((weak));
extern "C" char* openblas_get_corename() __attribute__((weak));

namespace embed {

torch::Device select_device(const std::string& spec) {
    if (spec == "auto") {
        return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::kCPU;
    }
    if (spec == "cpu") {
        return torch::kCPU;
    }
    static const std::regex kCuda(R"(cuda(:(\d{1,4}))?)");
    std::smatch match;
    if (!std::regex_match(spec, match, kCuda)) {
        throw BadInput("--device: '" + spec + "' is not one of auto, cpu, cuda, cuda:N");
    }
    if (!torch::cuda::is_available()) {
        throw BadInput("--device " + spec +
                       ": CUDA is not available (this build of LibTorch has no "
                       "CUDA support, or no GPU is visible)");
    }
    const int index = match[2].matched ? std::stoi(match[2].str()) : 0;
    if (index >= static_cast<int>(torch::cuda::device_count())) {
        throw BadInput("--device " + spec + ": only " +
                       std::to_string(torch::cuda::device_count()) + " CUDA device(s) visible");
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

void check_compute_dtype(torch::ScalarType dtype, const torch::Device& device) {
    if (dtype == torch::kFloat16 && !device.is_cuda()) {
        throw BadInput(
            "--dtype float16 needs a CUDA device (LibTorch computes float16 on GPUs only); "
            "on the CPU use --dtype bfloat16");
    }
}

std::string slow_cpu_bfloat16() {
    if (!cpu_has_avx512()) {
        // Measured on an AMD EPYC (Zen 3) with LibTorch 1.13: 5 GFLOPS against 184 in float32.
        return "this CPU has no AVX-512, and LibTorch multiplies bfloat16 matrices on it with a "
               "generic kernel some 30 times slower than float32; use --dtype float32";
    }
    if (!cpu_has_avx512_bf16()) {
        return "this CPU has no AVX512_BF16 instructions: LibTorch emulates bfloat16 products "
               "with AVX-512, which may be no faster than float32";
    }
    return {};
}

std::string held_back_openblas() {
    // Only an OpenBLAS built for every CPU (DYNAMIC_ARCH) reads the variable.
    const char* forced = std::getenv("OPENBLAS_CORETYPE");
    if (forced == nullptr || openblas_get_corename == nullptr || openblas_get_config == nullptr ||
        std::string(openblas_get_config()).find("DYNAMIC_ARCH") == std::string::npos) {
        return {};
    }
    const std::string core = openblas_get_corename();
    if (!cpu_has_avx512() || (core != "Haswell" && core != "Zen")) {
        return {};
    }
    // Measured on a 2-core AMD EPYC (Zen 5), OpenBLAS 0.3.21: 247 GFLOPS with Haswell's kernels,
    // 464 with SkylakeX's, and ESM-2 650M 1.7 times as fast.
    return "OPENBLAS_CORETYPE=" + std::string(forced) + " holds OpenBLAS to its " + core +
           " kernels (AVX2) on this CPU with AVX-512, where float32 matrix products can run "
           "about twice as fast; unset it to let OpenBLAS choose";
}

std::string dtype_name(torch::ScalarType dtype) {
    return name_of(kComputeDtypeNames, dtype);
}

void cast_parameters(torch::nn::Module& model, torch::ScalarType dtype) {
    torch::NoGradGuard no_grad;
    for (torch::Tensor& parameter : model.parameters()) {
        parameter.set_data(parameter.to(dtype));
    }
}

void set_cpu_threads(int threads) {
    torch::set_num_threads(threads);
    set_blas_threads(threads);
}

void keep_freed_memory_for_reuse() {
    // Large blocks come from the heap rather than mmap, and the heap is not trimmed, so a
    // freed block is reused by the next tensor of its size without page faults.
    constexpr int kOneGiB = 1 << 30;
    mallopt(M_MMAP_THRESHOLD, kOneGiB);
    mallopt(M_TRIM_THRESHOLD, kOneGiB);
}

void return_freed_memory() {
    malloc_trim(0);
}

std::string library_versions() {
    unsigned major = 0, minor = 0, release = 0;
    H5get_libversion(&major, &minor, &release);
    std::string out = "LibTorch " + std::string(TORCH_VERSION) + ", HDF5 " + std::to_string(major) +
                      "." + std::to_string(minor) + "." + std::to_string(release) + ", spdlog " +
                      std::to_string(SPDLOG_VER_MAJOR) + "." + std::to_string(SPDLOG_VER_MINOR) +
                      "." + std::to_string(SPDLOG_VER_PATCH) + ", zlib " + zlibVersion();
    if (openblas_get_config != nullptr) {
        out += ", " + std::string(openblas_get_config());
    }
    return out;
}

}  // namespace embed
