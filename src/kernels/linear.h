// A linear layer as torch::nn::Linear computes it, with two differences: its parameters start
// uninitialised (every weight here comes from a checkpoint, and torch::nn::Linear's random
// initialisation of ESM-2 650M's 640M weights took two seconds of its loading), and on the CPU
// each thread multiplies its own share of the rows (see kernels/parallel.h).
#pragma once

#include <torch/torch.h>

namespace embed {

/// torch::linear(x, weight, bias), on the CPU each thread multiplying its share of the rows.
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias);

/// fc2(gelu(fc1(x))) for x (..., in) in the weights' dtype. On the CPU each thread takes its share
/// of the rows a block at a time, so the hidden layer (4 times wider than x in ESM) exists for one
/// block per thread instead of for the whole batch: 650M's 4,096-token batch held two 84 MB
/// hidden tensors (before and after the GELU) at once.
torch::Tensor feed_forward(const torch::Tensor& x, const torch::Tensor& fc1_weight,
                           const torch::Tensor& fc1_bias, const torch::Tensor& fc2_weight,
                           const torch::Tensor& fc2_bias);

class LinearImpl : public torch::nn::Module {
public:
    LinearImpl(int64_t in_features, int64_t out_features);

    /// x (..., in) -> (..., out)
    torch::Tensor forward(const torch::Tensor& x) { return linear(x, weight, bias); }

    torch::Tensor weight;  ///< (out, in)
    torch::Tensor bias;    ///< (out)
};
TORCH_MODULE(Linear);

}  // namespace embed
