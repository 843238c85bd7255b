// The CPU kernels of kernels/cpu_kernels.h, each written once over Vec<isa>. Included only by the
// sources that compile them for one instruction set each (cpu_kernels_<isa>.cpp), each instantiating
// the kernels built for its instruction set. A vector kernel leaves the last columns that do not
// fill a vector to Vec<kPortable> (or, with AVX-512, to one vector under a mask), so that each
// instruction set computes what its hand-written kernel did.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/cpu_kernels.h"
#include "kernels/vec.h"
#include "kernels/vector_math.h"

namespace embed::kernels {
namespace {

using Portable = Vec<Isa::kPortable>;

/// The largest of `columns` floats.
template <Isa isa>
EMBED_INLINE float largest_of(const float* row, int64_t columns) {
    using V = Vec<isa>;
    constexpr float kNone = -std::numeric_limits<float>::infinity();
    typename V::Type largest_w = V::set1(kNone);
    int64_t c = 0;
    for (; c + V::kWidth <= columns; c += V::kWidth) {
        largest_w = V::max(largest_w, V::load(row + c));
    }
    if constexpr (V::kMaskedTail) {
        if (c < columns) {
            largest_w = V::max(largest_w, V::load_partial(row + c, columns - c, kNone));
        }
        return V::reduce_max(largest_w);
    } else {
        float largest = V::reduce_max(largest_w);
        for (; c < columns; ++c) {
            largest = Portable::max(largest, row[c]);
        }
        return largest;
    }
}

/// Stores a vector of exponentials as float or as bfloat16's bits; the first `n` lanes only
/// when n < the width.
template <Isa isa, typename Out>
EMBED_INLINE void store_as(Out* p, typename Vec<isa>::Type x, int64_t n = Vec<isa>::kWidth) {
    using V = Vec<isa>;
    if constexpr (std::is_same_v<Out, float>) {
        if (n == V::kWidth) {
            V::store(p, x);
        } else if constexpr (V::kMaskedTail) {
            V::store_partial(p, x, n);
        }
    } else {
        if (n == V::kWidth) {
            V::store_bfloat16(p, x);
        } else if constexpr (V::kMaskedTail) {
            V::store_bfloat16_partial(p, x, n);
        }
    }
}

template <Isa isa, typename Out>  // float, or bfloat16's bits
void exponentiate_rows_as(const float* scores, int64_t rows, int64_t columns, Out* out,
                          float* sums) {
    using V = Vec<isa>;
    for (int64_t r = 0; r < rows; ++r) {
        const float* row = scores + r * columns;
        Out* out_row = out + r * columns;
        const float largest = largest_of<isa>(row, columns);
        const typename V::Type shift = V::set1(largest);
        typename V::Type sum_w = V::zero();
        int64_t c = 0;
        for (; c + V::kWidth <= columns; c += V::kWidth) {
            const typename V::Type e = exp_nonpositive<isa>(V::sub(V::load(row + c), shift));
            store_as<isa>(out_row + c, e);
            sum_w = V::add(sum_w, e);
        }
        if constexpr (V::kMaskedTail) {
            if (c < columns) {
                const int64_t n = columns - c;
                const typename V::Type e =
                    exp_nonpositive<isa>(V::sub(V::load_partial(row + c, n, 0.0f), shift));
                sum_w = V::add_partial(sum_w, e, n);
                store_as<isa>(out_row + c, e, n);
            }
            sums[r] = V::reduce_add(sum_w);
        } else {
            float sum = V::reduce_add(sum_w);
            for (; c < columns; ++c) {
                const float e = exp_nonpositive<Isa::kPortable>(row[c] - largest);
                store_as<Isa::kPortable>(out_row + c, e);
                sum += e;
            }
            sums[r] = sum;
        }
    }
}

/// lstm_cell_row for cells [first, cell) a vector at a time, as far as whole vectors go; returns
/// the first cell left.
template <Isa isa>
EMBED_INLINE int64_t lstm_cells(const float* gates, float* memory, float* hidden, int64_t cell,
                                int64_t first, float cell_clip) {
    using V = Vec<isa>;
    using T = typename V::Type;
    const bool clip = cell_clip > 0;
    const T upper = V::set1(cell_clip);
    const T lower = V::set1(-cell_clip);
    int64_t c = first;
    for (; c + V::kWidth <= cell; c += V::kWidth) {
        const T input = sigmoid<isa>(V::load(gates + c));
        const T forget = sigmoid<isa>(V::load(gates + cell + c));
        const T candidate = tanh<isa>(V::load(gates + 2 * cell + c));
        const T output = sigmoid<isa>(V::load(gates + 3 * cell + c));
        T m = V::fma(input, candidate, V::mul(forget, V::load(memory + c)));
        if (clip) {
            m = V::min(V::max(m, lower), upper);
        }
        V::store(memory + c, m);
        V::store(hidden + c, V::mul(output, tanh<isa>(m)));
    }
    return c;
}

/// Inline, in plain loops, for the compiler to vectorise for each instruction set.
EMBED_INLINE void split_token_loops(const float* __restrict x, int64_t heads, int64_t d,
                                    float scale, const float* __restrict cos,
                                    const float* __restrict sin, int64_t head_stride,
                                    float* __restrict q, float* __restrict k,
                                    float* __restrict v) {
    const int64_t dim = heads * d;
    const int64_t half = d / 2;
    for (int64_t h = 0; h < heads; ++h) {
        const float* xq = x + h * d;
        const float* xk = xq + dim;
        float* yq = q + h * head_stride;
        float* yk = k + h * head_stride;
        // Not std::copy: an instantiation of it compiled here could stand in for another
        // source's (kernels/vec.h).
        __builtin_memcpy(v + h * head_stride, xk + dim, static_cast<size_t>(d) * sizeof(float));
        if (cos == nullptr) {
            for (int64_t i = 0; i < d; ++i) {
                yq[i] = xq[i] * scale;
                yk[i] = xk[i];
            }
            continue;
        }
        for (int64_t i = 0; i < half; ++i) {
            const float q1 = xq[i] * scale;
            const float q2 = xq[i + half] * scale;
            yq[i] = q1 * cos[i] - q2 * sin[i];
            yq[i + half] = q2 * cos[i + half] + q1 * sin[i + half];
            yk[i] = xk[i] * cos[i] - xk[i + half] * sin[i];
            yk[i + half] = xk[i + half] * cos[i + half] + xk[i] * sin[i + half];
        }
    }
}

// A panel is read 64 inputs (4 KB) ahead of the product.
constexpr int64_t kPrefetchInputs = 64;

// One row of a tile: its 16 columns in two vectors. The rows are separate variables, not an
// array, because GCC keeps an array of vectors on the stack, storing it at every step.
#define EMBED_MULTIPLY_ROW(r)                                         \
    if constexpr (kRows > (r)) {                                      \
        const T a = V::broadcast(x + (r)*x_stride + k);               \
        low##r = V::fma(a, w_low, low##r);                            \
        high##r = V::fma(a, w_high, high##r);                         \
    }
#define EMBED_LOAD_ROW(r)                                             \
    if constexpr (kRows > (r)) {                                      \
        low##r = V::load(tile + (r)*kPanelWidth);                     \
        high##r = V::load(tile + (r)*kPanelWidth + V::kWidth);        \
    }
#define EMBED_STORE_ROW(r)                                            \
    if constexpr (kRows > (r)) {                                      \
        V::store(tile + (r)*kPanelWidth, low##r);                     \
        V::store(tile + (r)*kPanelWidth + V::kWidth, high##r);        \
    }

/// multiply_panel for kRows rows, a panel row in two vectors.
template <Isa isa, int64_t kRows>
void multiply_panel_rows(const float* x, int64_t x_stride, const float* panel, int64_t inputs,
                         float* tile, bool accumulate) {
    using V = Vec<isa>;
    using T = typename V::Type;
    static_assert(2 * V::kWidth == kPanelWidth && kRows >= 1 && kRows <= kTileRows);
    T low0 = V::zero(), high0 = low0, low1 = low0, high1 = low0, low2 = low0, high2 = low0,
      low3 = low0, high3 = low0, low4 = low0, high4 = low0, low5 = low0, high5 = low0;
    if (accumulate) {
        EMBED_LOAD_ROW(0)
        EMBED_LOAD_ROW(1)
        EMBED_LOAD_ROW(2)
        EMBED_LOAD_ROW(3)
        EMBED_LOAD_ROW(4)
        EMBED_LOAD_ROW(5)
    }
    for (int64_t k = 0; k < inputs; ++k) {
        // A panel row is one cache line. Prefetching past the panel's end cannot fault.
        __builtin_prefetch(panel + (k + kPrefetchInputs) * kPanelWidth, 0, 3);
        const T w_low = V::load(panel + k * kPanelWidth);
        const T w_high = V::load(panel + k * kPanelWidth + V::kWidth);
        EMBED_MULTIPLY_ROW(0)
        EMBED_MULTIPLY_ROW(1)
        EMBED_MULTIPLY_ROW(2)
        EMBED_MULTIPLY_ROW(3)
        EMBED_MULTIPLY_ROW(4)
        EMBED_MULTIPLY_ROW(5)
    }
    EMBED_STORE_ROW(0)
    EMBED_STORE_ROW(1)
    EMBED_STORE_ROW(2)
    EMBED_STORE_ROW(3)
    EMBED_STORE_ROW(4)
    EMBED_STORE_ROW(5)
}
#undef EMBED_LOAD_ROW
#undef EMBED_MULTIPLY_ROW
#undef EMBED_STORE_ROW

}  // namespace

template <Isa isa>
void exponentiate_rows(const float* scores, int64_t rows, int64_t columns, float* out,
                       float* sums) {
    exponentiate_rows_as<isa>(scores, rows, columns, out, sums);
}

template <Isa isa>
void exponentiate_rows_to_bfloat16(const float* scores, int64_t rows, int64_t columns,
                                   c10::BFloat16* out, float* sums) {
    // c10::BFloat16 is its bits (c10/util/BFloat16.h), a header these sources leave out.
    exponentiate_rows_as<isa>(scores, rows, columns, reinterpret_cast<uint16_t*>(out), sums);
}

/// lstm_cell_row's cells [first, cell): compiled once, in the portable source, for the cells
/// that do not fill a vector; a copy inlined into a vector kernel would be compiled with FMA, and
/// the compiler would fuse its products.
template <Isa isa>
void lstm_cells_from(const float* gates, float* memory, float* hidden, int64_t cell, int64_t first,
                     float cell_clip) {
    lstm_cells<isa>(gates, memory, hidden, cell, first, cell_clip);
}
extern template void lstm_cells_from<Isa::kPortable>(const float*, float*, float*, int64_t, int64_t,
                                                     float);

template <Isa isa>
void lstm_cell_row(const float* gates, float* memory, float* hidden, int64_t cell,
                   float cell_clip) {
    const int64_t rest = lstm_cells<isa>(gates, memory, hidden, cell, 0, cell_clip);
    if constexpr (isa != Isa::kPortable) {
        lstm_cells_from<Isa::kPortable>(gates, memory, hidden, cell, rest, cell_clip);
    }
}

template <Isa isa>
void split_token(const float* x, int64_t heads, int64_t d, float scale, const float* cos,
                 const float* sin, int64_t head_stride, float* q, float* k, float* v) {
    split_token_loops(x, heads, d, scale, cos, sin, head_stride, q, k, v);
}

template <Isa isa>
void multiply_panel(const float* x, int64_t x_stride, int64_t rows, const float* panel,
                    int64_t inputs, float* tile, bool accumulate) {
    if constexpr (isa == Isa::kPortable) {
        // Row by row, a float at a time: sixteen columns do not fit one float's accumulators.
        if (!accumulate) {
            std::fill(tile, tile + rows * kPanelWidth, 0.0f);
        }
        for (int64_t k = 0; k < inputs; ++k) {
            const float* w = panel + k * kPanelWidth;
            for (int64_t r = 0; r < rows; ++r) {
                const float a = x[r * x_stride + k];
                float* t = tile + r * kPanelWidth;
                for (int64_t c = 0; c < kPanelWidth; ++c) {
                    t[c] += a * w[c];
                }
            }
        }
    } else {
        using Rows = void (*)(const float*, int64_t, const float*, int64_t, float*, bool);
        static constexpr Rows kByRows[kTileRows] = {
            multiply_panel_rows<isa, 1>, multiply_panel_rows<isa, 2>, multiply_panel_rows<isa, 3>,
            multiply_panel_rows<isa, 4>, multiply_panel_rows<isa, 5>, multiply_panel_rows<isa, 6>,
        };
        kByRows[rows - 1](x, x_stride, panel, inputs, tile, accumulate);
    }
}

}  // namespace embed::kernels
