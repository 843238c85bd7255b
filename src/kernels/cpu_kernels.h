// The CPU kernels that exist once per instruction set: each is a template over Isa, written once
// over Vec<Isa> (kernels/cpu_kernels_impl.h) and compiled in one source per instruction set
// (cpu_kernels_portable.cpp, cpu_kernels_avx2.cpp, cpu_kernels_avx512.cpp). A kernel's callers take
// it from its Variants with fastest(): the one dispatch point, over the instruction sets this CPU
// runs (asked once, kernels/simd.h).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "kernels/simd.h"

namespace c10 {
struct BFloat16;
}

namespace embed::kernels {

/// Softmax without its division: e^(score - the row's largest) for each row of `scores` (rows x
/// columns, contiguous) into `out` (the same shape; may be `scores`), and each row's sum of the
/// exponentials into `sums`.
template <Isa isa>
void exponentiate_rows(const float* scores, int64_t rows, int64_t columns, float* out,
                       float* sums);
/// The same with `out` in bfloat16, rounded to nearest even as c10::BFloat16 rounds; the sums
/// are of the unrounded exponentials.
template <Isa isa>
void exponentiate_rows_to_bfloat16(const float* scores, int64_t rows, int64_t columns,
                                   c10::BFloat16* out, float* sums);

/// AllenNLP's LSTM cell for one row: `gates` (4 * cell: the input, forget, memory and output
/// blocks), `memory` (cell, updated, clipped to [-cell_clip, cell_clip] when cell_clip > 0),
/// `hidden` (cell) = sigmoid(output) tanh(memory).
template <Isa isa>
void lstm_cell_row(const float* gates, float* memory, float* hidden, int64_t cell,
                   float cell_clip);

/// One token's queries, keys and values (`x`: 3 * H * d, head by head) into the per-head arrays
/// `q`, `k`, `v` (H heads `head_stride` apart, d each): queries times `scale`, then queries and
/// keys rotated as fair-esm's rotary embedding does, when `cos` (d; the token's position's) is
/// given: x * cos + rotate_half(x) * sin, rotate_half(x) = (-x[d/2:], x[:d/2]). Plain loops, that
/// the compiler vectorises for each instruction set.
template <Isa isa>
void split_token(const float* x, int64_t heads, int64_t d, float scale, const float* cos,
                 const float* sin, int64_t head_stride, float* q, float* k, float* v);

/// Columns of a packed weight panel (kernels/packed_weights.h).
constexpr int64_t kPanelWidth = 16;
/// Rows multiplied per pass over a panel: 6 rows x 16 columns are 12 AVX2 accumulators, which
/// with the panel's two vectors and a broadcast fill the 16 registers.
constexpr int64_t kTileRows = 6;

/// tile (rows x 16, contiguous) = x (rows x K, rows x_stride apart) times one panel (K x 16),
/// or tile += that product when `accumulate`; rows <= kTileRows.
template <Isa isa>
void multiply_panel(const float* x, int64_t x_stride, int64_t rows, const float* panel,
                    int64_t inputs, float* tile, bool accumulate);

using RowExponentials = decltype(&exponentiate_rows<Isa::kPortable>);
using RowExponentialsToBfloat16 = decltype(&exponentiate_rows_to_bfloat16<Isa::kPortable>);
using LstmCellRow = decltype(&lstm_cell_row<Isa::kPortable>);
using SplitToken = decltype(&split_token<Isa::kPortable>);
using MultiplyPanel = decltype(&multiply_panel<Isa::kPortable>);

/// A kernel's variant per instruction set (indexed by Isa), null where it is not compiled for
/// one: where the build does not target it, or where a variant would change the results that
/// embed computes on a CPU (the LSTM cell, token split and panel product have no AVX-512 one,
/// the bfloat16 exponentials no AVX2 one).
template <typename Kernel>
using Variants = std::array<Kernel, kIsas>;

extern const Variants<RowExponentials> kRowExponentials;
extern const Variants<RowExponentialsToBfloat16> kRowExponentialsToBfloat16;
extern const Variants<LstmCellRow> kLstmCellRow;
extern const Variants<SplitToken> kSplitToken;
extern const Variants<MultiplyPanel> kMultiplyPanel;

/// The variants this CPU runs, fastest first (the portable one last).
template <typename Kernel>
std::vector<Kernel> runnable(const Variants<Kernel>& variants) {
    std::vector<Kernel> kernels;
    for (const Isa isa : supported_isas()) {
        if (variants[static_cast<size_t>(isa)] != nullptr) {
            kernels.push_back(variants[static_cast<size_t>(isa)]);
        }
    }
    return kernels;
}

/// The fastest variant this CPU runs.
template <typename Kernel>
Kernel fastest(const Variants<Kernel>& variants) {
    return runnable(variants).front();
}

}  // namespace embed::kernels
