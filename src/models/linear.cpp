#include "models/linear.h"

#include <algorithm>

#include "embed/util/parallel.h"

namespace embed {
namespace {

// Below this many rows per thread the product is left whole to BLAS (a guess, not measured:
// ESM's and SeqVec's batches have thousands of rows).
constexpr int64_t kMinRowsPerThread = 64;
// Rows of a feed-forward block: 650M's hidden layer for 256 rows is 5 MB in float32, and products
// of 256 rows ran as fast as of 2,048 (tests/bench/esm_layer.cpp).
constexpr int64_t kFeedForwardRows = 256;

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

torch::Tensor feed_forward(const torch::Tensor& x, const torch::Tensor& fc1_weight,
                           const torch::Tensor& fc1_bias, const torch::Tensor& fc2_weight,
                           const torch::Tensor& fc2_bias) {
    const bool differentiable =
        torch::GradMode::is_enabled() && (fc1_weight.requires_grad() || fc2_weight.requires_grad());
    if (!x.device().is_cpu() || x.dim() < 2 || differentiable) {
        return torch::linear(torch::gelu(torch::linear(x, fc1_weight, fc1_bias)), fc2_weight,
                             fc2_bias);
    }
    const int64_t rows = x.numel() / std::max<int64_t>(1, x.size(-1));
    const torch::Tensor x_NI = x.reshape({rows, x.size(-1)});
    torch::Tensor out_NO = torch::empty({rows, fc2_weight.size(0)}, x.options());
    // Few rows stay on few threads: each share reads all of both weights.
    const int64_t threads = std::clamp<int64_t>((rows + kMinRowsPerThread - 1) / kMinRowsPerThread,
                                                1, at::get_num_threads());
    const int64_t share = (rows + threads - 1) / threads;
    parallel_products(threads, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const int64_t share_end = std::min(rows, (i + 1) * share);
            for (int64_t first = i * share; first < share_end; first += kFeedForwardRows) {
                const int64_t n = std::min(kFeedForwardRows, share_end - first);
                torch::Tensor hidden =
                    at::addmm(fc1_bias, x_NI.narrow(0, first, n), fc1_weight.t());
                at::gelu_(hidden);
                torch::Tensor out = out_NO.narrow(0, first, n);
                at::addmm_out(out, fc2_bias, hidden, fc2_weight.t());
            }
        }
    });
    std::vector<int64_t> sizes = x.sizes().vec();
    sizes.back() = fc2_weight.size(0);
    return out_NO.view(sizes);
}

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features) {
    weight = register_parameter("weight", torch::empty({out_features, in_features}));
    bias = register_parameter("bias", torch::empty({out_features}));
}

}  // namespace embed
