#include "kernels/cpu_attention.h"

#include <algorithm>
#include <cstdint>

#include "kernels/cpu_kernels.h"
#include "kernels/parallel.h"

namespace embed::esm {
namespace {

// The scores of a block of queries against all keys, kept in the caches between the two products
// and the exponentials. Measured (ESM-2 650M's heads, 400 and 1024 tokens): 1 MB ran 7% faster
// than 256 KB, which fits Zen 3's L2 (fewer and larger products); 2 MB no faster than 1 MB.
constexpr int64_t kScoreBlockBytes = 1 << 20;
constexpr int64_t kMinQueryRows = 16;

/// Row r of `out` (rows x columns, rows `stride` apart) divided by sums[r].
template <typename T>
void divide_rows(T* out, int64_t rows, int64_t columns, int64_t stride, const float* sums) {
    for (int64_t r = 0; r < rows; ++r) {
        const float inverse = 1.0f / sums[r];
        T* row = out + r * stride;
        for (int64_t c = 0; c < columns; ++c) {
            row[c] = static_cast<float>(row[c]) * inverse;
        }
    }
}

/// The queries, keys and values of a packed batch (N, 3 * H * d) as (3, H, N, d): each head's
/// contiguous, the queries scaled, queries and keys rotated at each token's position in its
/// protein. One pass over the tokens in order: a head's rows of qkv lie 3 * H * d floats apart,
/// and gathering them head by head waited on memory for most of its time.
torch::Tensor split_heads(const torch::Tensor& qkv_NE, int64_t heads, float query_scale,
                          const torch::Tensor& cos_Td, const torch::Tensor& sin_Td,
                          const std::vector<int64_t>& position_N) {
    const int64_t rows = qkv_NE.size(0);
    const int64_t d = qkv_NE.size(1) / (3 * heads);
    torch::Tensor heads_3HNd = torch::empty({3, heads, rows, d}, qkv_NE.options());
    const float* qkv = qkv_NE.data_ptr<float>();
    const float* cos = cos_Td.defined() ? cos_Td.data_ptr<float>() : nullptr;
    const float* sin = sin_Td.defined() ? sin_Td.data_ptr<float>() : nullptr;
    float* q = heads_3HNd.data_ptr<float>();
    float* k = q + heads * rows * d;
    float* v = k + heads * rows * d;
    static const kernels::SplitToken kSplit = kernels::fastest(kernels::kSplitToken);
    parallel_products(rows, [&](int64_t begin, int64_t end) {
        for (int64_t n = begin; n < end; ++n) {
            const int64_t at = position_N[static_cast<size_t>(n)] * d;
            const float* x = qkv + n * 3 * heads * d;
            const float* token_cos = cos != nullptr ? cos + at : nullptr;
            const float* token_sin = sin != nullptr ? sin + at : nullptr;
            kSplit(x, heads, d, query_scale, token_cos, token_sin, rows * d, q + n * d,
                   k + n * d, v + n * d);
        }
    });
    return heads_3HNd;
}

}  // namespace

namespace detail {

std::vector<RowExponentials<float>> row_exponentials_to_float() {
    return kernels::runnable(kernels::kRowExponentials);
}

std::vector<RowExponentials<c10::BFloat16>> row_exponentials_to_bfloat16() {
    return kernels::runnable(kernels::kRowExponentialsToBfloat16);
}

}  // namespace detail

torch::Tensor attend_on_cpu(torch::Tensor qkv_NE, int64_t heads, float query_scale,
                            const torch::Tensor& cos_Td, const torch::Tensor& sin_Td,
                            const std::vector<int64_t>& tokens_B, torch::ScalarType values_dtype) {
    TORCH_CHECK(qkv_NE.scalar_type() == torch::kFloat32 && qkv_NE.is_contiguous() &&
                    qkv_NE.dim() == 2 && qkv_NE.size(1) % (3 * heads) == 0,
                "attend_on_cpu: qkv must be contiguous float32 (N, 3 * H * d)");
    std::vector<int64_t> first_row_B(tokens_B.size());
    int64_t rows = 0;
    int64_t longest = 0;
    for (size_t b = 0; b < tokens_B.size(); ++b) {
        first_row_B[b] = rows;
        rows += tokens_B[b];
        longest = std::max(longest, tokens_B[b]);
    }
    TORCH_CHECK(rows == qkv_NE.size(0), "attend_on_cpu: ", rows, " tokens for ", qkv_NE.size(0),
                " rows");
    const int64_t dim = qkv_NE.size(1) / 3;
    const int64_t head_dim = dim / heads;
    TORCH_CHECK(head_dim <= kCpuAttentionMaxHeadDim, "attend_on_cpu: heads wider than ",
                kCpuAttentionMaxHeadDim);
    TORCH_CHECK(values_dtype == torch::kFloat32 || values_dtype == torch::kBFloat16,
                "attend_on_cpu: values in float32 or bfloat16");
    const bool bfloat16 = values_dtype == torch::kBFloat16;
    static const detail::RowExponentials<float> kToFloat =
        kernels::fastest(kernels::kRowExponentials);
    static const detail::RowExponentials<c10::BFloat16> kToBfloat16 =
        kernels::fastest(kernels::kRowExponentialsToBfloat16);
    const bool rotary = cos_Td.defined();
    TORCH_CHECK(!rotary || (cos_Td.is_contiguous() && sin_Td.is_contiguous() &&
                            cos_Td.size(0) >= longest && cos_Td.size(1) == head_dim),
                "attend_on_cpu: the rotation must be contiguous (T, d)");
    // Queries per block of scores: as many as fit the block, for a protein of `tokens`.
    auto block_rows = [](int64_t tokens) {
        return std::clamp<int64_t>(
            kScoreBlockBytes / (tokens * static_cast<int64_t>(sizeof(float))), kMinQueryRows,
            tokens);
    };
    int64_t most_rows = 0;
    int64_t largest_block = 0;
    for (const int64_t tokens : tokens_B) {
        most_rows = std::max(most_rows, block_rows(tokens));
        largest_block = std::max(largest_block, block_rows(tokens) * tokens);
    }

    std::vector<int64_t> position_N;
    position_N.reserve(static_cast<size_t>(rows));
    for (const int64_t tokens : tokens_B) {
        for (int64_t t = 0; t < tokens; ++t) {
            position_N.push_back(t);
        }
    }
    const torch::Tensor heads_3HNd =
        split_heads(qkv_NE, heads, query_scale, cos_Td, sin_Td, position_N);
    const torch::Tensor values_HNd = heads_3HNd[2].to(values_dtype);
    const torch::TensorOptions options = qkv_NE.options();
    qkv_NE = torch::Tensor();

    torch::Tensor context_ND = torch::empty({rows, dim}, options.dtype(values_dtype));
    const auto proteins = static_cast<int64_t>(tokens_B.size());
    parallel_products(proteins * heads, [&](int64_t begin, int64_t end) {
        torch::Tensor scores = torch::empty({largest_block}, options);
        // bfloat16: the exponentials, rounded, for the product with the values.
        torch::Tensor probabilities =
            bfloat16 ? torch::empty({largest_block}, context_ND.options()) : scores;
        std::vector<float> sums(static_cast<size_t>(most_rows));
        for (int64_t i = begin; i < end; ++i) {
            const auto b = static_cast<size_t>(i / heads);
            const int64_t h = i % heads;
            const int64_t tokens = tokens_B[b];
            const int64_t max_rows = block_rows(tokens);
            auto head = [&](int64_t which) {
                return heads_3HNd[which][h].narrow(0, first_row_B[b], tokens);
            };
            const torch::Tensor q_Td = head(0);
            const torch::Tensor kt_dT = head(1).t();
            const torch::Tensor v_Td = values_HNd[h].narrow(0, first_row_B[b], tokens);
            const torch::Tensor context_Td =
                context_ND.narrow(0, first_row_B[b], tokens).narrow(1, h * head_dim, head_dim);
            for (int64_t first = 0; first < tokens; first += max_rows) {
                const int64_t n = std::min(max_rows, tokens - first);
                torch::Tensor scores_nT = scores.narrow(0, 0, n * tokens).view({n, tokens});
                at::mm_out(scores_nT, q_Td.narrow(0, first, n), kt_dT);
                torch::Tensor probabilities_nT =
                    probabilities.narrow(0, 0, n * tokens).view({n, tokens});
                if (bfloat16) {
                    kToBfloat16(scores_nT.data_ptr<float>(), n, tokens,
                                probabilities_nT.data_ptr<at::BFloat16>(), sums.data());
                } else {
                    kToFloat(scores_nT.data_ptr<float>(), n, tokens, scores_nT.data_ptr<float>(),
                             sums.data());
                }
                torch::Tensor context_nd = context_Td.narrow(0, first, n);
                at::mm_out(context_nd, probabilities_nT, v_Td);
                if (bfloat16) {
                    divide_rows(context_nd.data_ptr<at::BFloat16>(), n, head_dim, dim, sums.data());
                } else {
                    divide_rows(context_nd.data_ptr<float>(), n, head_dim, dim, sums.data());
                }
            }
        }
    });
    return context_ND;
}

}  // namespace embed::esm
