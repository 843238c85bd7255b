#include "kernels/parallel.h"

#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>

// OpenBLAS keeps a thread pool of its own that LibTorch's set_num_threads does not reach; these
// resolve to null when LibTorch is linked against another BLAS.
extern "C" {
void openblas_set_num_threads(int) __attribute__((weak));
int openblas_get_num_threads() __attribute__((weak));
}

namespace embed {
namespace {

/// BLAS single-threaded while it lives.
class SingleThreadedBlas {
public:
    SingleThreadedBlas()
        : threads_(openblas_get_num_threads != nullptr ? openblas_get_num_threads() : 1) {
        set_blas_threads(1);
    }
    ~SingleThreadedBlas() { set_blas_threads(threads_); }
    SingleThreadedBlas(const SingleThreadedBlas&) = delete;
    SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

private:
    int threads_;
};

}  // namespace

void parallel_products(int64_t count, const std::function<void(int64_t, int64_t)>& body) {
    if (count <= 0) {
        return;
    }
    if (at::get_num_threads() == 1 || at::in_parallel_region()) {
        body(0, count);
        return;
    }
    const SingleThreadedBlas blas;
    const at::ThreadLocalState caller;
    at::parallel_for(0, count, 1, [&](int64_t begin, int64_t end) {
        const at::ThreadLocalStateGuard state(caller);
        body(begin, end);
    });
}

void set_blas_threads(int threads) {
    if (openblas_set_num_threads != nullptr) {
        openblas_set_num_threads(threads);
    }
}

}  // namespace embed
