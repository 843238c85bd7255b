// ELMo's bidirectional language model: stacked LSTMs with a projected, clipped state
// (AllenNLP's ElmoLstm and LstmCellWithProjection). Unlike AllenNLP, every sequence starts from
// a zero state, so a protein's output never depends on what was embedded before it.
//
// Both directions of a layer run as one: the backward direction reads each sequence reversed,
// so at every step both advance over the same sequences, and each step is one batched matrix
// product for the whole batch and both directions. Tensors of a layer are time-major,
// (direction, T, B, width), so a step's rows are contiguous.
#pragma once

#include <vector>

#include <torch/torch.h>

#include "checkpoint/state_dict.h"
#include "kernels/packed_weights.h"
#include "models/elmo/options.h"

namespace embed::elmo {

/// One LSTM layer in both directions; leading dimension 2 of every weight: forward, backward.
class BiLstmLayerImpl : public torch::nn::Module {
public:
    explicit BiLstmLayerImpl(const Options& options);

    /// Outputs (2, T, B, projection) for inputs (2, T, B, projection) whose first lengths_B[b]
    /// steps are real, the backward direction's reversed in time. Sequences must be sorted by
    /// length, longest first. Outputs past a sequence's end are zero. The input's share of the
    /// gates is computed for input_gate_bytes' worth of steps at a time.
    torch::Tensor forward(const torch::Tensor& x_2TBP, const std::vector<int64_t>& lengths_B,
                          int64_t input_gate_bytes);

    /// Declares bilm-tf's RNN_<direction>/RNN/MultiRNNCell/Cell<layer>/LSTMCell/{W_0, B,
    /// W_P_0} for a layer of `options`, before one is made.
    static void expect_weights(const Options& options, StrictLoader& loader, size_t layer);
    void load_weights(const StrictLoader& loader, size_t layer);

    /// On the CPU in float32, repacks state_weight and projection_weight for the steps' matrix
    /// products (models/packed_weights.h) and frees them: from then on the layer runs on the
    /// CPU in float32 only, and its cell's elementwise work in one pass (lstm_cell.h). On other
    /// devices and in other formats it does nothing.
    void pack_weights();

    torch::Tensor input_weight;       ///< (2, projection, 4 * cell): input -> gates
    torch::Tensor state_weight;       ///< (2, projection, 4 * cell): previous output -> gates
    torch::Tensor gate_bias;          ///< (2, 1, 4 * cell)
    torch::Tensor projection_weight;  ///< (2, cell, projection): cell -> output

private:
    /// Both directions' input share of the gates, bias included, for steps (2, S, A, projection)
    /// at once: one large matrix product into `buffer`, viewed as (2, S, A, 4 * cell).
    torch::Tensor input_gates(const torch::Tensor& x_2SAP, const torch::Tensor& buffer) const;
    /// gates_2AG += previous_2AP state_weight, each direction by its own weights.
    void add_recurrent_gates(const torch::Tensor& previous_2AP,
                             const torch::Tensor& gates_2AG) const;
    /// The cell's step from the gates (2, A, 4 * cell): updates memory_2AC (2, A, cell) and
    /// returns the cell's output (2, A, cell), before the projection.
    torch::Tensor cell(const torch::Tensor& gates_2AG, const torch::Tensor& memory_2AC) const;
    /// out_2AP = cell_2AC projection_weight, each direction by its own weights.
    void project(const torch::Tensor& cell_2AC, const torch::Tensor& out_2AP) const;

    Options options_;
    std::vector<PackedWeights> packed_state_;  ///< per direction, once pack_weights has run
    std::vector<PackedWeights> packed_projection_;
};
TORCH_MODULE(BiLstmLayer);

class BiLstmImpl : public torch::nn::Module {
public:
    explicit BiLstmImpl(const Options& options);

    /// Writes each layer's output, [forward, backward] concatenated, to outputs_LBTD[layer]
    /// (layers, B, T, 2 * projection), for token embeddings (B, T, projection) of sequences with
    /// lengths_B real steps (any order). Positions past a sequence's end become zero.
    void forward(const torch::Tensor& tokens_BTP, const std::vector<int64_t>& lengths_B,
                 const torch::Tensor& outputs_LBTD);

    /// Every layer's BiLstmLayerImpl::expect_weights.
    static void expect_weights(const Options& options, StrictLoader& loader);
    void load_weights(const StrictLoader& loader);
    /// BiLstmLayerImpl::pack_weights for every layer.
    void pack_weights();

    torch::nn::ModuleList layers{nullptr};
    /// How much of the input's share of the gates to hold at once: enough rows for an efficient
    /// matrix product (about 500 at SeqVec's width) without holding a whole batch's (64 KB a
    /// token and direction at SeqVec's width). Tests lower it to cross the steps' boundaries.
    int64_t input_gate_bytes = int64_t{64} << 20;

private:
    Options options_;
};
TORCH_MODULE(BiLstm);

}  // namespace embed::elmo
