#include "kernels/packed_weights.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu_kernels.h"
#include "kernels/parallel.h"

namespace embed {
namespace {

constexpr int64_t kWidth = PackedWeights::kPanelWidth;
constexpr int64_t kTileRows = kernels::kTileRows;
// A panel is multiplied a slice of 256 inputs (16 KB, half a core's L1 cache) at a time, every
// block of rows in turn, so that it comes from memory once; meanwhile the kernel asks for the
// panel 64 inputs (4 KB) ahead. Measured with bench/step_product.cpp at SeqVec's shapes:
// 8 running sequences 6.2 -> 4.1 ms a step, 48 sequences 18.7 -> 14.1 ms (best of three runs).
constexpr int64_t kSliceInputs = 256;

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
    kernels::multiply_panel<Isa::kPortable>(x, x_stride, rows, panel, inputs, tile, accumulate);
}

void multiply_panel(const float* x, int64_t x_stride, int64_t rows, const float* panel,
                    int64_t inputs, float* tile, bool accumulate) {
    static const kernels::MultiplyPanel kMultiply = kernels::fastest(kernels::kMultiplyPanel);
    kMultiply(x, x_stride, rows, panel, inputs, tile, accumulate);
}

}  // namespace detail

}  // namespace embed
