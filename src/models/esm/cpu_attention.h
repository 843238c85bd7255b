// ESM's self-attention on the CPU, from the fused query, key and value projections of a packed
// batch: one head of one protein per thread at a time, over the protein's own tokens (no
// padding, no mask), its queries in blocks whose scores stay in the core's cache.
#pragma once

#include <vector>

#include <torch/torch.h>

namespace embed::esm {

/// ESM's heads are 16 (ESM-2 8M) to 128 (15B) wide; wider ones take the padded batch's path.
constexpr int64_t kCpuAttentionMaxHeadDim = 256;

/// Softmax(q k^T) v of every head, as fair-esm computes it: queries scaled by `query_scale`,
/// then queries and keys rotated by ESM-2's rotary embedding when `cos_Td` is defined.
///
/// qkv_NE: (N, 3 * H * d) float32, each token's queries, keys and values (head by head), the
/// proteins' tokens one after another: tokens_B of each, N in all (no padding).
/// cos_Td, sin_Td: (T, d) float32 for T >= the longest protein, or undefined (ESM-1b).
/// Returns (N, H * d).
torch::Tensor attend_on_cpu(const torch::Tensor& qkv_NE, int64_t heads, float query_scale,
                            const torch::Tensor& cos_Td, const torch::Tensor& sin_Td,
                            const std::vector<int64_t>& tokens_B);

namespace detail {

/// Softmax without its division: each row of `scores` (rows x columns, contiguous) replaced by
/// e^(score - the row's largest), each row's sum written to `sums`. With AVX2 and FMA where the
/// CPU has them.
void exponentiate_rows(float* scores, int64_t rows, int64_t columns, float* sums);
/// The same in plain C++, for CPUs without them.
void exponentiate_rows_portably(float* scores, int64_t rows, int64_t columns, float* sums);

}  // namespace detail

}  // namespace embed::esm
