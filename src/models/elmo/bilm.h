// ELMo's bidirectional language model: stacked LSTMs with a projected, clipped state
// (AllenNLP's ElmoLstm and LstmCellWithProjection). Unlike AllenNLP, every sequence starts from
// a zero state, so a protein's output never depends on what was embedded before it.
#pragma once

#include <vector>

#include <torch/torch.h>

#include "embed/checkpoint/state_dict.h"
#include "models/elmo/options.h"

namespace embed::elmo {

/// One LSTM layer in one direction.
class LstmImpl : public torch::nn::Module {
public:
    LstmImpl(const Options& options, bool forward_in_time);

    /// Outputs (B, T, projection) for inputs (B, T, projection) whose first lengths_B[b] steps
    /// are real; sequences must be sorted by length, longest first. Outputs past a sequence's
    /// end are zero.
    torch::Tensor forward(const torch::Tensor& x_BTD, const std::vector<int64_t>& lengths_B);

    /// bilm-tf's RNN_<direction>/RNN/MultiRNNCell/Cell<layer>/LSTMCell/{W_0, B, W_P_0}.
    void expect_weights(StrictLoader& loader, const std::string& prefix) const;
    void load_weights(const StrictLoader& loader, const std::string& prefix);

    torch::nn::Linear input_linearity{nullptr};   ///< input -> 4 gates, no bias
    torch::nn::Linear state_linearity{nullptr};   ///< previous output -> 4 gates, with the bias
    torch::nn::Linear state_projection{nullptr};  ///< cell -> output, no bias

private:
    Options options_;
    bool forward_in_time_;
};
TORCH_MODULE(Lstm);

class BiLstmImpl : public torch::nn::Module {
public:
    explicit BiLstmImpl(const Options& options);

    /// Each layer's output, [forward, backward] concatenated: (B, T, 2 * projection), for token
    /// embeddings (B, T, projection) of sequences with lengths_B real steps (any order).
    std::vector<torch::Tensor> forward(const torch::Tensor& tokens_BTD,
                                       const std::vector<int64_t>& lengths_B);

    void expect_weights(StrictLoader& loader) const;
    void load_weights(const StrictLoader& loader);

    torch::nn::ModuleList forward_layers{nullptr};
    torch::nn::ModuleList backward_layers{nullptr};

private:
    Options options_;
};
TORCH_MODULE(BiLstm);

}  // namespace embed::elmo
