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
/// values_dtype: float32, or bfloat16 (--dtype bfloat16): the product of the softmax's
/// probabilities with the values in bfloat16 (both rounded to it, sums in float32), and the
/// result too. The scores and the softmax are float32 either way: scores rounded to bfloat16
/// would put the exponentials of large ones off by percents.
/// qkv_NE is let go once split into heads: pass it with std::move for its memory to go then.
/// Returns (N, H * d) in values_dtype.
torch::Tensor attend_on_cpu(torch::Tensor qkv_NE, int64_t heads, float query_scale,
                            const torch::Tensor& cos_Td, const torch::Tensor& sin_Td,
                            const std::vector<int64_t>& tokens_B,
                            torch::ScalarType values_dtype = torch::kFloat32);

namespace detail {

/// Softmax without its division: e^(score - the row's largest) for each row of `scores` (rows x
/// columns, contiguous) into `out` (the same shape; may be `scores`), rounded to nearest when
/// `Out` is bfloat16, and each row's sum of the unrounded exponentials into `sums`.
template <typename Out>
using RowExponentials = void (*)(const float* scores, int64_t rows, int64_t columns, Out* out,
                                 float* sums);

/// The kernels this CPU can run, fastest first: AVX-512 (with AVX512_BF16), AVX2 and FMA (to
/// float only), plain C++.
std::vector<RowExponentials<float>> row_exponentials_to_float();
std::vector<RowExponentials<c10::BFloat16>> row_exponentials_to_bfloat16();

}  // namespace detail

}  // namespace embed::esm
