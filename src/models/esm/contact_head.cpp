#include "models/esm/contact_head.h"

#include "models/esm/alphabet.h"

namespace embed::esm {
namespace {

// Average product correction: removes the background every row and column shares.
torch::Tensor apc(const torch::Tensor& x_BHLL) {
    const torch::Tensor rows = x_BHLL.sum(-1, /*keepdim=*/true);
    const torch::Tensor columns = x_BHLL.sum(-2, /*keepdim=*/true);
    const torch::Tensor total = x_BHLL.sum({-1, -2}, /*keepdim=*/true);
    return x_BHLL - rows * columns / total;
}

}  // namespace

ContactHeadImpl::ContactHeadImpl(int64_t layers, int64_t heads) : heads_(heads) {
    regression = register_module("regression", torch::nn::Linear(layers * heads, 1));
}

ContactHeadImpl::Accumulator::Accumulator(ContactHeadImpl& head, const torch::Tensor& tokens_BT)
    : head_(head) {
    const torch::Tensor residue_BT =
        tokens_BT.ne(kClsToken) & tokens_BT.ne(kEosToken) & tokens_BT.ne(kPadToken);
    const int64_t inner = tokens_BT.size(1) - kSpecialTokensPerSequence;
    // Pairs of residues, over the positions between the first and the last token.
    residue_pairs_B1TT_ = (residue_BT.unsqueeze(1) & residue_BT.unsqueeze(2))
                              .narrow(1, 1, inner)
                              .narrow(2, 1, inner)
                              .unsqueeze(1)
                              .to(head.regression->weight.dtype());
    logits_BTT_ =
        torch::zeros({tokens_BT.size(0), inner, inner}, head.regression->weight.options());
}

void ContactHeadImpl::Accumulator::add(int64_t layer, const torch::Tensor& attention_BHTT) {
    const int64_t inner = logits_BTT_.size(1);
    const torch::Tensor maps_BHLL =
        attention_BHTT.narrow(2, 1, inner).narrow(3, 1, inner) * residue_pairs_B1TT_;
    const torch::Tensor features_BHLL = apc(maps_BHLL + maps_BHLL.transpose(-1, -2));
    // The regression's weights are ordered layer by layer, heads within a layer.
    const torch::Tensor weights_H =
        head_.regression->weight[0].narrow(0, layer * head_.heads_, head_.heads_);
    logits_BTT_ += (features_BHLL * weights_H.view({1, -1, 1, 1})).sum(1);
}

torch::Tensor ContactHeadImpl::Accumulator::finish() {
    return torch::sigmoid(logits_BTT_ + head_.regression->bias);
}

}  // namespace embed::esm
