// ELMo's token embedder: character embeddings, max-pooled convolutions, highway layers and a
// projection (AllenNLP's _ElmoCharacterEncoder).
#pragma once

#include <vector>

#include <torch/torch.h>

#include "embed/checkpoint/state_dict.h"
#include "models/elmo/options.h"
#include "models/linear.h"

namespace embed::elmo {

class CharacterEncoderImpl : public torch::nn::Module {
public:
    explicit CharacterEncoderImpl(const Options& options);

    /// Token embeddings (N, projection_dim) of tokens given as character ids (N, characters).
    /// Identical tokens are embedded once: a protein batch has at most 28 distinct ones.
    torch::Tensor forward(const torch::Tensor& ids_NC);

    /// Declares the bilm-tf datasets this encoder reads (CNN/..., CNN_high_k/..., CNN_proj/...,
    /// char_embed), then copies them in, converted to LibTorch's layouts.
    void expect_weights(StrictLoader& loader) const;
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
