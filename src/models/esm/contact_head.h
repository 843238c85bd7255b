// ESM's contact predictor (fair-esm's ContactPredictionHead): a logistic regression over the
// attention maps of every layer and head, each symmetrized and APC-corrected, restricted to the
// residues (BOS, EOS and padding removed).
#pragma once

#include <torch/torch.h>

namespace embed::esm {

class ContactHeadImpl : public torch::nn::Module {
public:
    ContactHeadImpl(int64_t layers, int64_t heads);

    /// Logits start at zero for a batch of `tokens_BT`; add each layer's attention in order,
    /// then finish() gives contact probabilities (B, T - 2, T - 2) over residue positions
    /// (rows and columns past a protein's length are padding).
    class Accumulator {
    public:
        Accumulator(ContactHeadImpl& head, const torch::Tensor& tokens_BT);
        /// `attention_BHTT`: the softmaxed attention of layer `layer` (0-based).
        void add(int64_t layer, const torch::Tensor& attention_BHTT);
        torch::Tensor finish();

    private:
        ContactHeadImpl& head_;
        torch::Tensor residue_pairs_B1TT_;
        torch::Tensor logits_BTT_;
    };

    torch::nn::Linear regression{nullptr};

private:
    int64_t heads_;
};
TORCH_MODULE(ContactHead);

}  // namespace embed::esm
