#include "models/esm/transformer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "encode/runtime.h"
#include "kernels/cpu_attention.h"
#include "kernels/simd.h"
#include "models/esm/alphabet.h"

namespace embed::esm {
namespace {

// Training replaced 15% of tokens, 80% of those by <mask>; with token dropout the embeddings
// are rescaled by (1 - 0.15 * 0.8) / (1 - observed mask ratio). Inputs here never hold <mask>,
// so the observed ratio is 0.
constexpr double kMaskRatioTrain = 0.15 * 0.8;

torch::nn::LayerNorm layer_norm(int64_t dim, double eps) {
    return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(eps));
}

torch::Tensor rotate_half(const torch::Tensor& x) {
    const std::vector<torch::Tensor> halves = x.chunk(2, -1);
    return torch::cat({-halves[1], halves[0]}, -1);
}

// How a batch of padding_BT's tokens goes through the layers: `packed`, or padded with a key
// mask when there is padding (of the type of `options`).
TokenLayout token_layout(const torch::Tensor& padding_BT, bool any_padding, bool packed,
                         const torch::TensorOptions& options) {
    TokenLayout layout;
    // Real tokens come first in every row.
    const torch::Tensor tokens_B = padding_BT.logical_not().sum(1).to(torch::kCPU);
    layout.tokens_B.assign(tokens_B.data_ptr<int64_t>(),
                           tokens_B.data_ptr<int64_t>() + tokens_B.numel());
    layout.packed = packed;
    if (!layout.packed && any_padding) {
        layout.key_mask_B11T = torch::zeros(padding_BT.sizes(), options)
                                   .masked_fill(padding_BT, -std::numeric_limits<float>::infinity())
                                   .view({padding_BT.size(0), 1, 1, padding_BT.size(1)});
    }
    return layout;
}

}  // namespace

torch::Tensor Rotation::apply(const torch::Tensor& x_BHTd) const {
    return x_BHTd * cos_Td + rotate_half(x_BHTd) * sin_Td;
}

RotaryEmbeddingImpl::RotaryEmbeddingImpl(int64_t head_dim) {
    inv_freq = register_buffer("inv_freq", torch::zeros({head_dim / 2}));
}

Rotation RotaryEmbeddingImpl::rotation(int64_t length) const {
    const torch::Tensor positions_T = torch::arange(length, inv_freq.options());
    const torch::Tensor freqs_Tf = torch::outer(positions_T, inv_freq);
    const torch::Tensor angles_Td = torch::cat({freqs_Tf, freqs_Tf}, -1);
    return Rotation{angles_Td.cos(), angles_Td.sin()};
}

SelfAttentionImpl::SelfAttentionImpl(int64_t embed_dim, int64_t heads, bool rotary)
    : heads_(heads),
      head_dim_(embed_dim / heads),
      scaling_(1.0 / std::sqrt(static_cast<double>(embed_dim / heads))) {
    k_proj = register_module("k_proj", Linear(embed_dim, embed_dim));
    v_proj = register_module("v_proj", Linear(embed_dim, embed_dim));
    q_proj = register_module("q_proj", Linear(embed_dim, embed_dim));
    out_proj = register_module("out_proj", Linear(embed_dim, embed_dim));
    if (rotary) {
        rot_emb = register_module("rot_emb", RotaryEmbedding(head_dim_));
    }
    view_projections_in(torch::empty({3 * embed_dim, embed_dim}), torch::empty({3 * embed_dim}));
}

void SelfAttentionImpl::prepare(torch::ScalarType dtype) {
    torch::NoGradGuard no_grad;
    cast_parameters(*this, dtype);
    // Moving to another device or dtype gave each weight its own storage again.
    if (!q_proj->weight.is_alias_of(qkv_weight_) || !v_proj->bias.is_alias_of(qkv_bias_)) {
        view_projections_in(torch::cat({q_proj->weight, k_proj->weight, v_proj->weight}),
                            torch::cat({q_proj->bias, k_proj->bias, v_proj->bias}));
    }
}

void SelfAttentionImpl::view_projections_in(torch::Tensor weight_3DD, torch::Tensor bias_3D) {
    torch::NoGradGuard no_grad;
    qkv_weight_ = std::move(weight_3DD);
    qkv_bias_ = std::move(bias_3D);
    // The model's memory stays one copy of the weights.
    const int64_t dim = q_proj->weight.size(0);
    const std::vector<Linear> projections = {q_proj, k_proj, v_proj};
    for (size_t i = 0; i < projections.size(); ++i) {
        const int64_t offset = static_cast<int64_t>(i) * dim;
        projections[i]->weight.set_data(qkv_weight_.narrow(0, offset, dim));
        projections[i]->bias.set_data(qkv_bias_.narrow(0, offset, dim));
    }
}

torch::ScalarType SelfAttentionImpl::packed_values_dtype() const {
    const bool bfloat16 = out_proj->weight.scalar_type() == torch::kBFloat16;
    return bfloat16 && cpu_has_avx512_bf16() ? torch::kBFloat16 : torch::kFloat32;
}

std::pair<torch::Tensor, torch::Tensor> SelfAttentionImpl::forward(const torch::Tensor& x_BTD,
                                                                   const TokenLayout& layout,
                                                                   const Rotation* rotation,
                                                                   bool weights) {
    const int64_t batch = x_BTD.size(0);
    const int64_t length = x_BTD.size(1);
    // The projections compute in their weights' type (--dtype), the attention's scores and softmax
    // in float32. Without AVX512_BF16, LibTorch 1.13's CPU bfloat16 matmul keeps its running sums
    // in bfloat16, which over a thousand keys moved per-protein vectors of ESM-2 by a cosine of
    // 0.02; with it (oneDNN, float32 sums) the CPU kernel multiplies probabilities and values in
    // bfloat16 (cpu_attention.h).
    const torch::Tensor x_ND = x_BTD.reshape({batch * length, -1}).to(qkv_weight_.scalar_type());
    torch::Tensor qkv_NE = linear(x_ND, qkv_weight_, qkv_bias_).to(torch::kFloat32);
    torch::Tensor context_BTD;
    torch::Tensor weights_BHTT;
    if (layout.packed) {
        TORCH_CHECK(!weights, "attention weights need the padded layout");
        context_BTD = attend_on_cpu(std::move(qkv_NE), heads_, static_cast<float>(scaling_),
                                    rotation != nullptr ? rotation->cos_Td : torch::Tensor(),
                                    rotation != nullptr ? rotation->sin_Td : torch::Tensor(),
                                    layout.tokens_B, packed_values_dtype())
                          .view({batch, length, -1});
    } else {
        const torch::Tensor qkv_3BHTd =
            qkv_NE.view({batch, length, 3, heads_, head_dim_}).permute({2, 0, 3, 1, 4});
        // fair-esm scales the queries before the rotation.
        torch::Tensor q_BHTd = qkv_3BHTd[0] * scaling_;
        torch::Tensor k_BHTd = qkv_3BHTd[1];
        const torch::Tensor v_BHTd = qkv_3BHTd[2];
        if (rotation != nullptr) {
            q_BHTd = rotation->apply(q_BHTd);
            k_BHTd = rotation->apply(k_BHTd);
        }
        torch::Tensor scores_BHTT = torch::matmul(q_BHTd, k_BHTd.transpose(-2, -1));
        if (layout.key_mask_B11T.defined()) {
            scores_BHTT += layout.key_mask_B11T;
        }
        weights_BHTT = torch::softmax(scores_BHTT, -1);
        scores_BHTT = torch::Tensor();
        context_BTD =
            torch::matmul(weights_BHTT, v_BHTd).transpose(1, 2).reshape({batch, length, -1});
        if (!weights) {
            weights_BHTT = torch::Tensor();
        }
    }
    return {out_proj(context_BTD.to(out_proj->weight.scalar_type())).to(x_BTD.scalar_type()),
            weights_BHTT};
}

TransformerLayerImpl::TransformerLayerImpl(const Config& config) {
    self_attn = register_module("self_attn", SelfAttention(config.embed_dim, config.attention_heads,
                                                           config.version == Version::esm2));
    self_attn_layer_norm = register_module("self_attn_layer_norm",
                                           layer_norm(config.embed_dim, config.layer_norm_eps));
    fc1 = register_module("fc1", Linear(config.embed_dim, config.ffn_dim));
    fc2 = register_module("fc2", Linear(config.ffn_dim, config.embed_dim));
    final_layer_norm =
        register_module("final_layer_norm", layer_norm(config.embed_dim, config.layer_norm_eps));
}

void TransformerLayerImpl::prepare(torch::ScalarType dtype) {
    self_attn->prepare(dtype);
    cast_parameters(*fc1, dtype);
    cast_parameters(*fc2, dtype);
}

std::pair<torch::Tensor, torch::Tensor> TransformerLayerImpl::forward(const torch::Tensor& x_BTD,
                                                                      const TokenLayout& layout,
                                                                      const Rotation* rotation,
                                                                      bool weights) {
    // The residual stream and the layer norms stay float32 under any --dtype.
    auto [attended_BTD, attention_BHTT] =
        self_attn->forward(self_attn_layer_norm(x_BTD), layout, rotation, weights);
    const torch::Tensor x = x_BTD + attended_BTD;
    const torch::Tensor out = feed_forward(final_layer_norm(x).to(fc1->weight.scalar_type()),
                                           fc1->weight, fc1->bias, fc2->weight, fc2->bias);
    return {x + out.to(x.scalar_type()), attention_BHTT};
}

EsmModelImpl::EsmModelImpl(const Config& config, bool with_contact_head) : config_(config) {
    embed_tokens =
        register_module("embed_tokens", torch::nn::Embedding(kVocabularySize, config.embed_dim));
    if (config.version == Version::esm1b) {
        embed_positions = register_module(
            "embed_positions",
            torch::nn::Embedding(config.max_positions + kPositionTableExtraRows, config.embed_dim));
        emb_layer_norm_before = register_module(
            "emb_layer_norm_before", layer_norm(config.embed_dim, config.layer_norm_eps));
    }
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < config.num_layers; ++i) {
        layers->push_back(TransformerLayer(config));
    }
    emb_layer_norm_after = register_module("emb_layer_norm_after",
                                           layer_norm(config.embed_dim, config.layer_norm_eps));
    if (with_contact_head) {
        contact_head =
            register_module("contact_head", ContactHead(config.num_layers, config.attention_heads));
    }
}

void EsmModelImpl::prepare(const torch::Device& device, torch::ScalarType dtype) {
    to(device);
    for (const auto& layer : *layers) {
        layer->as<TransformerLayer>()->prepare(dtype);
    }
    eval();
}

torch::Tensor EsmModelImpl::embed(const torch::Tensor& tokens_BT, const torch::Tensor& padding_BT) {
    torch::Tensor x_BTD = embed_tokens(tokens_BT);
    if (config_.token_dropout) {
        x_BTD = x_BTD * (1.0 - kMaskRatioTrain);
    }
    if (config_.version == Version::esm1b) {
        // Position of a token: the count of real tokens up to it, offset past the padding index.
        const torch::Tensor real_BT = padding_BT.logical_not().to(torch::kInt64);
        const torch::Tensor positions_BT = real_BT.cumsum(1) * real_BT + kPadToken;
        x_BTD = emb_layer_norm_before(x_BTD + embed_positions(positions_BT));
    }
    return x_BTD.masked_fill(padding_BT.unsqueeze(-1), 0.0);
}

EsmOutput EsmModelImpl::forward(const torch::Tensor& tokens_BT, const std::vector<int64_t>& wanted,
                                bool contacts) {
    if (contacts && !contact_head) {
        throw std::logic_error("contacts asked of an ESM model without a contact head");
    }
    const torch::Tensor padding_BT = tokens_BT.eq(kPadToken);
    const bool any_padding = padding_BT.any().item<bool>();
    // The CPU attends protein by protein (cpu_attention.h), so no layer need compute on padding:
    // the real tokens go one protein after another. Contacts need the attention weights of the
    // padded batch, and a GPU multiplies the padded batch at once faster.
    const bool packed = tokens_BT.device().is_cpu() && !contacts &&
                        config_.embed_dim / config_.attention_heads <= kCpuAttentionMaxHeadDim;
    const TokenLayout layout =
        token_layout(padding_BT, any_padding, packed, embed_tokens->weight.options());
    // The rows of the real tokens in the padded batch, when packing leaves padding out.
    torch::Tensor real_rows_N;
    if (layout.packed && any_padding) {
        real_rows_N = padding_BT.logical_not().view(-1).nonzero().squeeze(1);
    }
    // The layers' x, packed or padded, as the padded batch (B, T, D); padding rows are zero.
    auto as_padded = [&](const torch::Tensor& x) {
        const int64_t dim = x.size(-1);
        if (!real_rows_N.defined()) {
            return x.view({tokens_BT.size(0), tokens_BT.size(1), dim});
        }
        return torch::zeros({tokens_BT.numel(), dim}, x.options())
            .index_copy_(0, real_rows_N, x.view({-1, dim}))
            .view({tokens_BT.size(0), tokens_BT.size(1), dim});
    };
    auto is_wanted = [&](int64_t layer) {
        return std::find(wanted.begin(), wanted.end(), layer) != wanted.end();
    };
    // Layers past the deepest one asked for are never run; contacts need them all.
    const int64_t deepest =
        contacts ? config_.num_layers
                 : (wanted.empty() ? 0 : *std::max_element(wanted.begin(), wanted.end()));
    std::optional<ContactHeadImpl::Accumulator> contact_logits;
    if (contacts) {
        contact_logits.emplace(*contact_head, tokens_BT);
    }

    EsmOutput out;
    const torch::Tensor embedded_BTD = embed(tokens_BT, padding_BT);
    torch::Tensor x = embedded_BTD;  // (B, T, D) padded, (1, N, D) packed
    if (real_rows_N.defined()) {
        x = embedded_BTD.view({-1, config_.embed_dim}).index_select(0, real_rows_N).unsqueeze(0);
    } else if (layout.packed) {
        x = embedded_BTD.view({1, -1, config_.embed_dim});
    }
    std::optional<Rotation> rotation;
    if (config_.version == Version::esm2) {
        // Every layer's inv_freq is the same; the first one's serves all.
        rotation =
            layers[0]->as<TransformerLayer>()->self_attn->rot_emb->rotation(tokens_BT.size(1));
    }
    if (is_wanted(0)) {
        out.hidden[0] = embedded_BTD;
    }
    for (int64_t i = 0; i < deepest; ++i) {
        torch::Tensor attention_BHTT;
        std::tie(x, attention_BHTT) = layers[i]->as<TransformerLayer>()->forward(
            x, layout, rotation ? &*rotation : nullptr, contacts);
        if (contact_logits) {
            contact_logits->add(i, attention_BHTT);
        }
        if (is_wanted(i + 1)) {
            out.hidden[i + 1] =
                as_padded(i + 1 == config_.num_layers ? emb_layer_norm_after(x) : x);
        }
    }
    if (contact_logits) {
        out.contacts_BLL = contact_logits->finish();
    }
    return out;
}

}  // namespace embed::esm
