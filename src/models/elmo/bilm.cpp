#include "models/elmo/bilm.h"

#include <algorithm>
#include <numeric>

namespace embed::elmo {
namespace {

// TensorFlow's LSTMCell orders the gate blocks input, memory, forget, output; the cell here
// (AllenNLP's) uses input, forget, memory, output.
const std::vector<int64_t> kTensorFlowGateOrder = {0, 2, 1, 3};
constexpr int64_t kTensorFlowForgetGate = 2;
// TensorFlow adds 1 to the forget gate's bias when it runs the cell instead of storing it.
constexpr double kTensorFlowForgetBias = 1.0;
constexpr int64_t kGates = 4;
// The cell's gate blocks, in order.
enum Gate : size_t { kInputGate = 0, kForgetGate = 1, kMemoryGate = 2, kOutputGate = 3 };

std::string cell_prefix(int direction, size_t layer) {
    return "RNN_" + std::to_string(direction) + "/RNN/MultiRNNCell/Cell" + std::to_string(layer) +
           "/LSTMCell/";
}

// Gate blocks (4 * cell along dim 0) from TensorFlow's order to the cell's.
torch::Tensor reorder_gates(const torch::Tensor& tensorflow, int64_t cell) {
    std::vector<torch::Tensor> blocks = tensorflow.split(cell, 0);
    std::vector<torch::Tensor> reordered;
    for (const int64_t block : kTensorFlowGateOrder) {
        reordered.push_back(blocks[static_cast<size_t>(block)]);
    }
    return torch::cat(reordered, 0);
}

}  // namespace

LstmImpl::LstmImpl(const Options& options, bool forward_in_time)
    : options_(options), forward_in_time_(forward_in_time) {
    const int64_t gates = kGates * options.cell_dim;
    input_linearity = register_module(
        "input_linearity",
        torch::nn::Linear(torch::nn::LinearOptions(options.projection_dim, gates).bias(false)));
    state_linearity =
        register_module("state_linearity", torch::nn::Linear(options.projection_dim, gates));
    state_projection = register_module(
        "state_projection",
        torch::nn::Linear(
            torch::nn::LinearOptions(options.cell_dim, options.projection_dim).bias(false)));
}

torch::Tensor LstmImpl::forward(const torch::Tensor& x_BTD, const std::vector<int64_t>& lengths_B) {
    const int64_t batch = x_BTD.size(0);
    const int64_t steps = x_BTD.size(1);
    // The input's share of the gates for every step at once: one large matrix product.
    const torch::Tensor input_gates_BTG = input_linearity(x_BTD);
    torch::Tensor state_BP = x_BTD.new_zeros({batch, options_.projection_dim});
    torch::Tensor memory_BC = x_BTD.new_zeros({batch, options_.cell_dim});
    torch::Tensor out_BTP = x_BTD.new_zeros({batch, steps, options_.projection_dim});

    int64_t active = forward_in_time_ ? batch : 0;
    for (int64_t step = 0; step < steps; ++step) {
        const int64_t t = forward_in_time_ ? step : steps - 1 - step;
        // Sequences are sorted longest first, so those still running at t are a prefix. Going
        // backwards, a sequence joins at its own last step with its still-zero state.
        if (forward_in_time_) {
            while (active > 0 && lengths_B[static_cast<size_t>(active - 1)] <= t) {
                --active;
            }
        } else {
            while (active < batch && lengths_B[static_cast<size_t>(active)] > t) {
                ++active;
            }
        }
        if (active == 0) {
            continue;
        }
        const torch::Tensor state = state_BP.narrow(0, 0, active);
        const torch::Tensor memory = memory_BC.narrow(0, 0, active);
        const torch::Tensor gates =
            input_gates_BTG.select(1, t).narrow(0, 0, active) + state_linearity(state);
        const std::vector<torch::Tensor> g = gates.chunk(kGates, 1);
        torch::Tensor new_memory = torch::sigmoid(g[kInputGate]) * torch::tanh(g[kMemoryGate]) +
                                   torch::sigmoid(g[kForgetGate]) * memory;
        if (options_.cell_clip > 0) {
            new_memory.clamp_(-options_.cell_clip, options_.cell_clip);
        }
        torch::Tensor output =
            state_projection(torch::sigmoid(g[kOutputGate]) * torch::tanh(new_memory));
        if (options_.projection_clip > 0) {
            output.clamp_(-options_.projection_clip, options_.projection_clip);
        }
        memory.copy_(new_memory);
        state.copy_(output);
        out_BTP.select(1, t).narrow(0, 0, active).copy_(output);
    }
    return out_BTP;
}

void LstmImpl::expect_weights(StrictLoader& loader, const std::string& prefix) const {
    const int64_t projection = options_.projection_dim;
    loader.expect(prefix + "W_0", {2 * projection, kGates * options_.cell_dim});
    loader.expect(prefix + "B", {kGates * options_.cell_dim});
    loader.expect(prefix + "W_P_0", {options_.cell_dim, projection});
}

void LstmImpl::load_weights(const StrictLoader& loader, const std::string& prefix) {
    torch::NoGradGuard no_grad;
    const int64_t cell = options_.cell_dim;
    const int64_t projection = options_.projection_dim;
    // W_0 stacks the input and the recurrent weights: (input + recurrent, 4 * cell).
    const torch::Tensor stacked = reorder_gates(loader.read(prefix + "W_0").t(), cell);
    input_linearity->weight.copy_(stacked.narrow(1, 0, projection));
    state_linearity->weight.copy_(stacked.narrow(1, projection, projection));
    torch::Tensor bias = loader.read(prefix + "B").clone();
    bias.narrow(0, kTensorFlowForgetGate * cell, cell) += kTensorFlowForgetBias;
    state_linearity->bias.copy_(reorder_gates(bias, cell));
    state_projection->weight.copy_(loader.read(prefix + "W_P_0").t());
}

BiLstmImpl::BiLstmImpl(const Options& options) : options_(options) {
    forward_layers = register_module("forward_layers", torch::nn::ModuleList());
    backward_layers = register_module("backward_layers", torch::nn::ModuleList());
    for (int64_t layer = 0; layer < options.lstm_layers; ++layer) {
        forward_layers->push_back(Lstm(options, true));
        backward_layers->push_back(Lstm(options, false));
    }
}

std::vector<torch::Tensor> BiLstmImpl::forward(const torch::Tensor& tokens_BTD,
                                               const std::vector<int64_t>& lengths_B) {
    // The cell wants sequences longest first; restore the caller's order at the end.
    std::vector<int64_t> order(lengths_B.size());
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return lengths_B[a] > lengths_B[b]; });
    std::vector<int64_t> sorted_lengths;
    for (const int64_t i : order) {
        sorted_lengths.push_back(lengths_B[static_cast<size_t>(i)]);
    }
    const torch::Tensor order_B = torch::tensor(order, torch::kInt64).to(tokens_BTD.device());
    const torch::Tensor restore_B = order_B.argsort();

    torch::Tensor forward_BTP = tokens_BTD.index_select(0, order_B);
    torch::Tensor backward_BTP = forward_BTP;
    std::vector<torch::Tensor> layers;
    for (size_t layer = 0; layer < forward_layers->size(); ++layer) {
        torch::Tensor next_forward =
            forward_layers[layer]->as<Lstm>()->forward(forward_BTP, sorted_lengths);
        torch::Tensor next_backward =
            backward_layers[layer]->as<Lstm>()->forward(backward_BTP, sorted_lengths);
        if (layer > 0 && options_.skip_connections) {
            next_forward += forward_BTP;
            next_backward += backward_BTP;
        }
        forward_BTP = next_forward;
        backward_BTP = next_backward;
        layers.push_back(torch::cat({forward_BTP, backward_BTP}, -1).index_select(0, restore_B));
    }
    return layers;
}

void BiLstmImpl::expect_weights(StrictLoader& loader) const {
    for (size_t layer = 0; layer < forward_layers->size(); ++layer) {
        forward_layers->at<LstmImpl>(layer).expect_weights(loader, cell_prefix(0, layer));
        backward_layers->at<LstmImpl>(layer).expect_weights(loader, cell_prefix(1, layer));
    }
}

void BiLstmImpl::load_weights(const StrictLoader& loader) {
    for (size_t layer = 0; layer < forward_layers->size(); ++layer) {
        forward_layers[layer]->as<Lstm>()->load_weights(loader, cell_prefix(0, layer));
        backward_layers[layer]->as<Lstm>()->load_weights(loader, cell_prefix(1, layer));
    }
}

}  // namespace embed::elmo
