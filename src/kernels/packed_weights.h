// Matrix products of few rows against a large weight matrix, as a recurrent network's steps
// make them: SeqVec's LSTM multiplies its 1 to 100 running sequences by 80 MB of weights per
// layer and step. BLAS re-packs the whole weight matrix on every such call: on this project's
// 2-core test machine a step of 2 to 12 rows took 7-17 ms, where reading 80 MB once takes 3.
// Here the weights are packed once, into column panels read front to back, so a step costs one
// pass over them: the memory's bandwidth for few rows, BLAS's rate for many
// (bench/step_product.cpp measures both).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "kernels/cpu_kernels.h"

namespace embed {

/// A float32 weight matrix (K inputs, N outputs) on the CPU, stored as column panels: panel p
/// holds columns [16p, 16p + 16) of every input row, contiguous (the last panel zero-padded).
class PackedWeights {
public:
    static constexpr int64_t kPanelWidth = kernels::kPanelWidth;

    PackedWeights() = default;
    /// weight_KN: (K, N) float32 on the CPU, any strides.
    explicit PackedWeights(const torch::Tensor& weight_KN);

    int64_t inputs() const { return inputs_; }
    int64_t outputs() const { return outputs_; }
    int64_t panels() const { return (outputs_ + kPanelWidth - 1) / kPanelWidth; }
    const float* panel(int64_t p) const {
        return panels_.data_ptr<float>() + p * inputs_ * kPanelWidth;
    }

private:
    torch::Tensor panels_;  ///< (panels, K, 16)
    int64_t inputs_ = 0;
    int64_t outputs_ = 0;
};

/// out_AN = x_AK w (or out_AN += x_AK w when `accumulate`). x and out: float32 (A, K) and
/// (A, N) on the CPU whose rows are contiguous (any row stride).
struct PackedProduct {
    torch::Tensor x_AK;
    const PackedWeights* weights;
    torch::Tensor out_AN;
    bool accumulate;
};

/// Computes every product, in parallel on LibTorch's CPU threads, each thread taking panels.
void multiply_packed(const std::vector<PackedProduct>& products);

namespace detail {

/// tile (rows x 16, contiguous) = x (rows x K, rows x_stride apart) times one panel (K x 16),
/// or tile += that product when `accumulate`; rows <= 6. The fastest of kernels::kMultiplyPanel
/// this CPU runs (AVX2 and FMA where it has them).
void multiply_panel(const float* x, int64_t x_stride, int64_t rows, const float* panel,
                    int64_t inputs, float* tile, bool accumulate);
/// The same in plain C++, for CPUs without them.
void multiply_panel_portably(const float* x, int64_t x_stride, int64_t rows, const float* panel,
                             int64_t inputs, float* tile, bool accumulate);

}  // namespace detail

}  // namespace embed
