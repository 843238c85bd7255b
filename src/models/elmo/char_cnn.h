// ELMo's token embedder: character embeddings, max-pooled convolutions, highway layers and a
// projection (AllenNLP's _ElmoCharacterEncoder).
#pragma once

#include <vector>

#include <torch/torch.h>

#include "checkpoint/state_dict.h"
#include "kernels/linear.h"
#include "models/elmo/options.h"

namespace embed::elmo {

class CharacterEncoderImpl : public torch::nn::Module {
public:
    explicit CharacterEncoderImpl(const Options& options);

    /// Token embeddings (N, projection_dim) of tokens given as character ids (N, characters).
    /// Identical tokens are embedded once: a protein batch has at most 28 distinct ones.
    torch::Tensor forward(const torch::Tensor& ids_NC);

    /// Declares the bilm-tf datasets an encoder of `options` reads (CNN/..., CNN_high_k/...,
    /// CNN_proj/..., char_embed): before one is made, so that a checkpoint of other sizes is
    /// an error, not an allocation of the sizes the options claim.
    static void expect_weights(const Options& options, StrictLoader& loader);
    /// Copies the declared datasets in, converted to LibTorch's layouts.
    void load_weights(const StrictLoader& loader);

    torch::Tensor char_embed;  ///< (characters, dim); row 0, for "no character", is zero
    torch::nn::ModuleList convolutions{nullptr};
    torch::nn::ModuleList highway_transforms{nullptr};
    torch::nn::ModuleList highway_carries{nullptr};
    Linear projection{nullptr};

private:
    torch::Tensor embed_distinct(const torch::Tensor& ids_UC);

    Options options_;
};
TORCH_MODULE(CharacterEncoder);

}  // namespace embed::elmo
