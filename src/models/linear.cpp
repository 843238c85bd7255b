#include "models/linear.h"

#include <algorithm>

#include "embed/util/parallel.h"

namespace embed {
namespace {

// Below this many rows per thread the product is left whole to BLAS (a guess, not measured:
// ESM's and SeqVec's batches have thousands of rows).
constexpr int64_t kMinRowsPerThread = 64;

}  // namespace

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias) {
    const int64_t threads = at::get_num_threads();
    const bool differentiable = torch::GradMode::is_enabled() && weight.requires_grad();
    if (!x.device().is_cpu() || x.dim() < 2 || threads < 2 || differentiable) {
        return torch::linear(x, weight, bias);
    }
    const int64_t rows = x.numel() / std::max<int64_t>(1, x.size(-1));
    if (rows < kMinRowsPerThread * threads) {
        return torch::linear(x, weight, bias);
    }
    const torch::Tensor x_NI = x.reshape({rows, x.size(-1)});
    torch::Tensor out_NO = torch::empty({rows, weight.size(0)}, x.options());
    const int64_t share = (rows + threads - 1) / threads;
    parallel_products(threads, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const int64_t first = i * share;
            const int64_t n = std::min(share, rows - first);
            if (n > 0) {
                torch::Tensor out = out_NO.narrow(0, first, n);
                at::addmm_out(out, bias, x_NI.narrow(0, first, n), weight.t());
            }
        }
    });
    std::vector<int64_t> sizes = x.sizes().vec();
    sizes.back() = weight.size(0);
    return out_NO.view(sizes);
}

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features) {
    weight = register_parameter("weight", torch::empty({out_features, in_features}));
    bias = register_parameter("bias", torch::empty({out_features}));
}

}  // namespace embed
