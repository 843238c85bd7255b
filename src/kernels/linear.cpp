#include "kernels/linear.h"

#include <algorithm>
#include <functional>

#include "kernels/parallel.h"

namespace embed {
namespace {

// Below this many rows per thread the product is left whole to BLAS (a guess, not measured:
// ESM's and SeqVec's batches have thousands of rows).
constexpr int64_t kMinRowsPerThread = 64;
// Rows of a feed-forward block: 650M's hidden layer for 256 rows is 5 MB in float32, and products
// of 256 rows ran as fast as of 2,048 (bench/esm_layer.cpp).
constexpr int64_t kFeedForwardRows = 256;

/// The rows of x (..., in): the product of its sizes but the last.
int64_t rows_of(const torch::Tensor& x) {
    return x.numel() / std::max<int64_t>(1, x.size(-1));
}

/// rows_of(x) times a weight of `out` rows, computed by `product(x rows, out rows)` on the CPU's
/// threads, each its own contiguous share of the rows (`shares` of them), shaped as x is with
/// `out` last.
torch::Tensor by_row_shares(
    const torch::Tensor& x, int64_t out, int64_t shares,
    const std::function<void(const torch::Tensor& x_nI, torch::Tensor& out_nO)>& product) {
    const int64_t rows = rows_of(x);
    const torch::Tensor x_NI = x.reshape({rows, x.size(-1)});
    torch::Tensor out_NO = torch::empty({rows, out}, x.options());
    const int64_t share = (rows + shares - 1) / shares;
    parallel_products(shares, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const int64_t first = i * share;
            const int64_t n = std::min(share, rows - first);
            if (n > 0) {
                torch::Tensor out_nO = out_NO.narrow(0, first, n);
                product(x_NI.narrow(0, first, n), out_nO);
            }
        }
    });
    std::vector<int64_t> sizes = x.sizes().vec();
    sizes.back() = out;
    return out_NO.view(sizes);
}

}  // namespace

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias) {
    const int64_t threads = at::get_num_threads();
    const bool differentiable = torch::GradMode::is_enabled() && weight.requires_grad();
    if (!x.device().is_cpu() || x.dim() < 2 || threads < 2 || differentiable ||
        rows_of(x) < kMinRowsPerThread * threads) {
        return torch::linear(x, weight, bias);
    }
    return by_row_shares(x, weight.size(0), threads,
                         [&](const torch::Tensor& x_nI, torch::Tensor& out_nO) {
                             at::addmm_out(out_nO, bias, x_nI, weight.t());
                         });
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
    // Few rows stay on few threads: each share reads all of both weights.
    const int64_t shares = std::clamp<int64_t>(
        (rows_of(x) + kMinRowsPerThread - 1) / kMinRowsPerThread, 1, at::get_num_threads());
    return by_row_shares(
        x, fc2_weight.size(0), shares, [&](const torch::Tensor& x_nI, torch::Tensor& out_nO) {
            for (int64_t first = 0; first < x_nI.size(0); first += kFeedForwardRows) {
                const int64_t n = std::min(kFeedForwardRows, x_nI.size(0) - first);
                torch::Tensor hidden =
                    at::addmm(fc1_bias, x_nI.narrow(0, first, n), fc1_weight.t());
                at::gelu_(hidden);
                torch::Tensor out = out_nO.narrow(0, first, n);
                at::addmm_out(out, fc2_bias, hidden, fc2_weight.t());
            }
        });
}

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features) {
    weight = register_parameter("weight", torch::empty({out_features, in_features}));
    bias = register_parameter("bias", torch::empty({out_features}));
}

}  // namespace embed
