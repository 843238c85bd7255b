#include "kernels/packed_weights.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/parallel.h"
#include "kernels/simd.h"

namespace embed {
namespace {

constexpr int64_t kWidth = PackedWeights::kPanelWidth;
// Rows multiplied per pass over a panel: 6 rows x 16 columns are 12 AVX2 accumulators, which
// with the panel's two vectors and a broadcast fill the 16 registers.
constexpr int64_t kTileRows = 6;
// A panel is multiplied a slice of 256 inputs (16 KB, half a core's L1 cache) at a time, every
// block of rows in turn, so that it comes from memory once; meanwhile the kernel asks for the
// panel 64 inputs (4 KB) ahead. Measured with bench/step_product.cpp at SeqVec's shapes:
// 8 running sequences 6.2 -> 4.1 ms a step, 48 sequences 18.7 -> 14.1 ms (best of three runs).
constexpr int64_t kSliceInputs = 256;
constexpr int64_t kPrefetchInputs = 64;

#ifdef EMBED_HAVE_AVX2_KERNELS
// One row of a tile: its 16 columns in two accumulators. The rows are separate variables, not
// an array, because GCC keeps an array of vectors on the stack, storing it at every step.
#define EMBED_MULTIPLY_ROW(r)                                       \
    if constexpr (kRows > (r)) {                                    \
        const __m256 a = _mm256_broadcast_ss(x + (r)*x_stride + k); \
        low##r = _mm256_fmadd_ps(a, w_low, low##r);                 \
        high##r = _mm256_fmadd_ps(a, w_high, high##r);              \
    }
#define EMBED_LOAD_ROW(r)                                 \
    if constexpr (kRows > (r)) {                          \
        low##r = _mm256_loadu_ps(tile + (r)*kWidth);      \
        high##r = _mm256_loadu_ps(tile + (r)*kWidth + 8); \
    }
#define EMBED_STORE_ROW(r)                                \
    if constexpr (kRows > (r)) {                          \
        _mm256_storeu_ps(tile + (r)*kWidth, low##r);      \
        _mm256_storeu_ps(tile + (r)*kWidth + 8, high##r); \
    }

template <int64_t kRows>
EMBED_AVX2 void multiply_panel_avx2(const float* x, int64_t x_stride, const float* panel,
                                    int64_t inputs, float* tile, bool accumulate) {
    static_assert(kRows >= 1 && kRows <= kTileRows);
    __m256 low0 = _mm256_setzero_ps(), high0 = low0, low1 = low0, high1 = low0, low2 = low0,
           high2 = low0, low3 = low0, high3 = low0, low4 = low0, high4 = low0, low5 = low0,
           high5 = low0;
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
        _mm_prefetch(reinterpret_cast<const char*>(panel + (k + kPrefetchInputs) * kWidth),
                     _MM_HINT_T0);
        const __m256 w_low = _mm256_loadu_ps(panel + k * kWidth);
        const __m256 w_high = _mm256_loadu_ps(panel + k * kWidth + 8);
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

using PanelKernel = void (*)(const float*, int64_t, const float*, int64_t, float*, bool);
constexpr PanelKernel kAvx2Kernels[kTileRows] = {
    multiply_panel_avx2<1>, multiply_panel_avx2<2>, multiply_panel_avx2<3>,
    multiply_panel_avx2<4>, multiply_panel_avx2<5>, multiply_panel_avx2<6>,
};
#endif

void check_product(const PackedProduct& p) {
    const PackedWeights& w = *p.weights;
    for (const torch::Tensor* t : {&p.x_AK, &p.out_AN}) {
        TORCH_CHECK(t->device().is_cpu() && t->scalar_type() == torch::kFloat32 && t->dim() == 2 &&
                        t->stride(1) == 1,
                    "multiply_packed: float32 CPU matrices with contiguous rows expected");
    }
    TORCH_CHECK(p.x_AK.size(1) == w.inputs() && p.out_AN.size(1) == w.outputs() &&
                    p.x_AK.size(0) == p.out_AN.size(0),
                "multiply_packed: shapes (", p.x_AK.size(0), ", ", p.x_AK.size(1), ") x (",
                w.inputs(), ", ", w.outputs(), ") -> (", p.out_AN.size(0), ", ", p.out_AN.size(1),
                ")");
}

/// One product's panel `p` for every row, through a tile of partial sums (rows x 16).
void multiply_rows_by_panel(const PackedProduct& product, int64_t p) {
    const PackedWeights& w = *product.weights;
    const int64_t rows = product.x_AK.size(0);
    const int64_t inputs = w.inputs();
    const int64_t first_column = p * kWidth;
    const int64_t columns = std::min(kWidth, w.outputs() - first_column);
    const float* x = product.x_AK.data_ptr<float>();
    const int64_t x_stride = product.x_AK.stride(0);
    thread_local std::vector<float> tile_buffer;
    tile_buffer.resize(static_cast<size_t>(rows * kWidth));
    float* tile = tile_buffer.data();
    for (int64_t first_input = 0; first_input < inputs; first_input += kSliceInputs) {
        const int64_t slice = std::min(kSliceInputs, inputs - first_input);
        for (int64_t first_row = 0; first_row < rows; first_row += kTileRows) {
            detail::multiply_panel(x + first_row * x_stride + first_input, x_stride,
                                   std::min(kTileRows, rows - first_row),
                                   w.panel(p) + first_input * kWidth, slice,
                                   tile + first_row * kWidth, first_input > 0);
        }
    }
    float* out = product.out_AN.data_ptr<float>() + first_column;
    const int64_t out_stride = product.out_AN.stride(0);
    for (int64_t r = 0; r < rows; ++r) {
        float* target = out + r * out_stride;
        const float* source = tile + r * kWidth;
        if (product.accumulate) {
            for (int64_t c = 0; c < columns; ++c) {
                target[c] += source[c];
            }
        } else {
            std::memcpy(target, source, static_cast<size_t>(columns) * sizeof(float));
        }
    }
}

}  // namespace

PackedWeights::PackedWeights(const torch::Tensor& weight_KN) {
    TORCH_CHECK(weight_KN.dim() == 2 && weight_KN.device().is_cpu() &&
                    weight_KN.scalar_type() == torch::kFloat32,
                "PackedWeights: a float32 CPU matrix expected");
    inputs_ = weight_KN.size(0);
    outputs_ = weight_KN.size(1);
    const int64_t padded = panels() * kWidth;
    torch::Tensor padded_KN = weight_KN;
    if (padded != outputs_) {
        padded_KN = torch::zeros({inputs_, padded}, weight_KN.options());
        padded_KN.narrow(1, 0, outputs_).copy_(weight_KN);
    }
    panels_ = padded_KN.reshape({inputs_, panels(), kWidth}).permute({1, 0, 2}).contiguous();
}

void multiply_packed(const std::vector<PackedProduct>& products) {
    std::vector<int64_t> first_panel = {0};  // of each product, counting all products' panels
    for (const PackedProduct& p : products) {
        check_product(p);
        first_panel.push_back(first_panel.back() + p.weights->panels());
    }
    parallel_products(first_panel.back(), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const auto product =
                static_cast<size_t>(std::upper_bound(first_panel.begin(), first_panel.end(), i) -
                                    first_panel.begin() - 1);
            multiply_rows_by_panel(products[product], i - first_panel[product]);
        }
    });
}

namespace detail {

void multiply_panel_portably(const float* x, int64_t x_stride, int64_t rows, const float* panel,
                             int64_t inputs, float* tile, bool accumulate) {
    if (!accumulate) {
        std::fill(tile, tile + rows * kWidth, 0.0f);
    }
    for (int64_t k = 0; k < inputs; ++k) {
        const float* w = panel + k * kWidth;
        for (int64_t r = 0; r < rows; ++r) {
            const float a = x[r * x_stride + k];
            float* t = tile + r * kWidth;
            for (int64_t c = 0; c < kWidth; ++c) {
                t[c] += a * w[c];
            }
        }
    }
}

void multiply_panel(const float* x, int64_t x_stride, int64_t rows, const float* panel,
                    int64_t inputs, float* tile, bool accumulate) {
#ifdef EMBED_HAVE_AVX2_KERNELS
    if (cpu_has_avx2_fma()) {
        kAvx2Kernels[rows - 1](x, x_stride, panel, inputs, tile, accumulate);
        return;
    }
#endif
    multiply_panel_portably(x, x_stride, rows, panel, inputs, tile, accumulate);
}

}  // namespace detail

}  // namespace embed
