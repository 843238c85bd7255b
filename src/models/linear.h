// A linear layer as torch::nn::Linear computes it, whose parameters start uninitialised: every
// weight here comes from a checkpoint, and torch::nn::Linear's random initialisation of
// ESM-2 650M's 640M weights took two seconds of its loading.
#pragma once

#include <torch/torch.h>

namespace embed {

class LinearImpl : public torch::nn::Module {
public:
    LinearImpl(int64_t in_features, int64_t out_features) {
        weight = register_parameter("weight", torch::empty({out_features, in_features}));
        bias = register_parameter("bias", torch::empty({out_features}));
    }

    torch::Tensor forward(const torch::Tensor& x) { return torch::linear(x, weight, bias); }

    torch::Tensor weight;  ///< (out, in)
    torch::Tensor bias;    ///< (out)
};
TORCH_MODULE(Linear);

}  // namespace embed
