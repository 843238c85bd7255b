// The ESM transformer as LibTorch modules. Submodule and parameter names equal fair-esm's
// state-dict names (after its "encoder.sentence_encoder." prefix), so weights load by name.
#pragma once

#include <map>
#include <vector>

#include <torch/torch.h>

#include "kernels/linear.h"
#include "models/esm/config.h"
#include "models/esm/contact_head.h"

namespace embed::esm {

/// The rotation of positions 0..T-1 (ESM-2), computed once per forward pass for all layers.
struct Rotation {
    torch::Tensor cos_Td;
    torch::Tensor sin_Td;
    /// Rotates `x` (B, H, T, head_dim), queries or keys, position by position.
    torch::Tensor apply(const torch::Tensor& x_BHTd) const;
};

/// How a batch's tokens lie in the rows the layers compute on.
struct TokenLayout {
    std::vector<int64_t> tokens_B;  ///< real tokens (BOS and EOS included) of each protein
    /// true: the proteins' tokens one after another, no padding, as x (1, sum of tokens_B, D),
    /// each protein attending over its own tokens (the CPU's attention, cpu_attention.h).
    /// false: the padded batch (B, T, D), real tokens first in every row.
    bool packed = false;
    /// Padded only: 0 for real keys, -inf for padding; undefined when nothing is padded.
    torch::Tensor key_mask_B11T;
};

/// Rotary position embedding (ESM-2). `inv_freq` is a buffer read from the checkpoint: the
/// released weights hold it rounded through float16, and recomputing it changes the outputs.
class RotaryEmbeddingImpl : public torch::nn::Module {
public:
    explicit RotaryEmbeddingImpl(int64_t head_dim);
    /// The rotation of `length` positions, in float32 (attention computes in float32).
    Rotation rotation(int64_t length) const;

    torch::Tensor inv_freq;
};
TORCH_MODULE(RotaryEmbedding);

/// Multi-head self-attention with fair-esm's projections (q_proj, k_proj, v_proj, out_proj).
class SelfAttentionImpl : public torch::nn::Module {
public:
    SelfAttentionImpl(int64_t embed_dim, int64_t heads, bool rotary);
    /// Computes the projections in `dtype` from now on, queries, keys and values as one matrix
    /// product. Call once the weights are loaded and on their device.
    void prepare(torch::ScalarType dtype);
    /// The attended values, shaped as `x_BTD` is in `layout` (padded: rows past a protein's
    /// tokens mean nothing), and, when `weights` (contacts; padded layout only), the attention
    /// weights (B, H, T, T). `rotation`: ESM-2's, for the longest protein at least.
    std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x_BTD,
                                                    const TokenLayout& layout,
                                                    const Rotation* rotation, bool weights);

    Linear k_proj{nullptr}, v_proj{nullptr}, q_proj{nullptr}, out_proj{nullptr};
    RotaryEmbedding rot_emb{nullptr};

private:
    /// What the CPU's kernel multiplies probabilities and values in: bfloat16 under --dtype
    /// bfloat16 where the CPU has AVX512_BF16, else float32.
    torch::ScalarType packed_values_dtype() const;
    /// Makes q_proj, k_proj and v_proj's weights (and biases) views of stacked ones.
    void view_projections_in(torch::Tensor weight_3DD, torch::Tensor bias_3D);

    int64_t heads_;
    int64_t head_dim_;
    double scaling_;
    // q_proj, k_proj and v_proj stacked (3D, D), (3D); their weights are views of these, from
    // construction on: the checkpoint is read straight into them.
    torch::Tensor qkv_weight_;
    torch::Tensor qkv_bias_;
};
TORCH_MODULE(SelfAttention);

/// Pre-LayerNorm transformer block: x += attn(LN(x)); x += fc2(gelu(fc1(LN(x)))).
class TransformerLayerImpl : public torch::nn::Module {
public:
    explicit TransformerLayerImpl(const Config& config);
    /// Projections and feed-forward layers in `dtype`; see SelfAttentionImpl::prepare.
    void prepare(torch::ScalarType dtype);
    /// The layer's output, shaped as `x_BTD` is in `layout`, and, when `weights`, its attention
    /// weights (B, H, T, T).
    std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x_BTD,
                                                    const TokenLayout& layout,
                                                    const Rotation* rotation, bool weights);

    SelfAttention self_attn{nullptr};
    torch::nn::LayerNorm self_attn_layer_norm{nullptr};
    Linear fc1{nullptr}, fc2{nullptr};
    torch::nn::LayerNorm final_layer_norm{nullptr};
};
TORCH_MODULE(TransformerLayer);

struct EsmOutput {
    /// Hidden states (B, T, D) by layer.
    std::map<int64_t, torch::Tensor> hidden;
    /// Contact probabilities (B, T - 2, T - 2) over residue positions, when asked for.
    torch::Tensor contacts_BLL;
};

/// The whole encoder: token (and, for ESM-1b, position) embeddings, the layers, the final
/// LayerNorm, and the contact head when the checkpoint has its weights. The language-model head
/// is not part of it.
class EsmModelImpl : public torch::nn::Module {
public:
    EsmModelImpl(const Config& config, bool with_contact_head);

    /// Moves the loaded model to `device` for inference, its projections and feed-forward
    /// layers computing in `dtype`; embeddings, layer norms, attention, the residual stream and
    /// the contact head stay float32.
    void prepare(const torch::Device& device, torch::ScalarType dtype);

    /// Hidden states of `tokens_BT` at each requested layer: 0 is the embedding output,
    /// num_layers the last layer after the final LayerNorm, as fair-esm numbers them; and the
    /// contact map when `contacts` (which needs the contact head).
    EsmOutput forward(const torch::Tensor& tokens_BT, const std::vector<int64_t>& layers,
                      bool contacts);

    torch::nn::Embedding embed_tokens{nullptr};
    torch::nn::Embedding embed_positions{nullptr};        // ESM-1b only
    torch::nn::LayerNorm emb_layer_norm_before{nullptr};  // ESM-1b only
    torch::nn::ModuleList layers{nullptr};
    torch::nn::LayerNorm emb_layer_norm_after{nullptr};
    ContactHead contact_head{nullptr};

private:
    torch::Tensor embed(const torch::Tensor& tokens_BT, const torch::Tensor& padding_BT);

    Config config_;
};
TORCH_MODULE(EsmModel);

}  // namespace embed::esm
