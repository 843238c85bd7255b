// Many matrix products at once, one per CPU thread, instead of one at a time split across the
// threads by BLAS. A product of attention (one head of one protein) or a linear layer's share of
// a batch is too small to split well: OpenBLAS's threads spent more time waiting on each other
// (and yielding the CPU) than multiplying.
#pragma once

#include <cstdint>
#include <functional>

namespace embed {

/// Calls `body(begin, end)` on disjoint ranges covering [0, count), in parallel on LibTorch's
/// CPU threads, with BLAS single-threaded meanwhile. The workers run with the caller's
/// LibTorch thread-local state (inference mode, grad mode). Without OpenMP in the build the
/// ranges run one after the other on the calling thread.
void parallel_products(int64_t count, const std::function<void(int64_t, int64_t)>& body);

/// Sets the threads of the BLAS LibTorch uses, when that is OpenBLAS (others ignore this).
void set_blas_threads(int threads);

}  // namespace embed
