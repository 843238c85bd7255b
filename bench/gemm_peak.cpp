// The matrix-product rate this machine reaches with the LibTorch and BLAS that embed uses: the
// denominator of scripts/bench's roofline. Square products of a few sizes, each timed over
// repetitions after a warm-up; prints the best rate per number format, one line each:
//
//     embed_gemm_peak [THREADS]        ->  "float32 182.4" and "bfloat16 391.0" (GFLOPS)
//
// A format the CPU cannot multiply fast still gets its measured rate (LibTorch 1.13 falls back
// to a slow generic kernel for bfloat16 without AVX512_BF16).
#include <chrono>
#include <cstdio>
#include <string>

#include <torch/torch.h>

#include "base/cpus.h"
#include "encode/runtime.h"

namespace {

double gflops(int64_t n, torch::ScalarType dtype) {
    const torch::Tensor a = torch::randn({n, n}).to(dtype);
    const torch::Tensor b = torch::randn({n, n}).to(dtype);
    torch::Tensor c = torch::mm(a, b);  // warm-up: thread pools, packing buffers
    const auto start = std::chrono::steady_clock::now();
    int repetitions = 0;
    double seconds = 0;
    while (seconds < 0.5) {
        torch::mm_out(c, a, b);
        ++repetitions;
        seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    return 2.0 * static_cast<double>(n * n * n) * repetitions / seconds / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
    embed::keep_freed_memory_for_reuse();
    embed::set_cpu_threads(argc > 1 ? std::stoi(argv[1]) : embed::available_cpus());
    torch::NoGradGuard no_grad;
    for (const torch::ScalarType dtype : {torch::kFloat32, torch::kBFloat16}) {
        double best = 0;
        for (const int64_t n : {1024, 2048}) {
            best = std::max(best, gflops(n, dtype));
        }
        std::printf("%s %.1f\n", embed::dtype_name(dtype).c_str(), best);
    }
    return 0;
}
