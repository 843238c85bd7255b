#include "models/elmo/bilm.h"

#include <algorithm>
#include <numeric>

#include "models/elmo/lstm_cell.h"

namespace embed::elmo {
namespace {

// TensorFlow's LSTMCell orders the gate blocks input, memory, forget, output; the cell here
// (AllenNLP's) uses input, forget, memory, output.
const std::vector<int64_t> kTensorFlowGateOrder = {0, 2, 1, 3};
constexpr int64_t kTensorFlowForgetGate = 2;
// TensorFlow adds 1 to the forget gate's bias when it runs the cell instead of storing it.
constexpr double kTensorFlowForgetBias = 1.0;
constexpr int64_t kDirections = 2;

std::string cell_prefix(int64_t direction, size_t layer) {
    return "RNN_" + std::to_string(direction) + "/RNN/MultiRNNCell/Cell" + std::to_string(layer) +
           "/LSTMCell/";
}

// Copies the gate blocks (4 * cell along the last dim) from TensorFlow's order to the cell's.
void copy_gates(const torch::Tensor& cell_order, const torch::Tensor& tensorflow, int64_t cell) {
    for (size_t block = 0; block < kTensorFlowGateOrder.size(); ++block) {
        cell_order.narrow(-1, static_cast<int64_t>(block) * cell, cell)
            .copy_(tensorflow.narrow(-1, kTensorFlowGateOrder[block] * cell, cell));
    }
}

// (B, T): for each sequence, the step that its reversal puts at t; padding stays in place. The
// map is its own inverse.
torch::Tensor reversal(const std::vector<int64_t>& lengths_B, int64_t steps) {
    const auto batch = static_cast<int64_t>(lengths_B.size());
    torch::Tensor index_BT = torch::arange(steps, torch::kInt64).repeat({batch, 1});
    auto index = index_BT.accessor<int64_t, 2>();
    for (int64_t b = 0; b < batch; ++b) {
        const int64_t length = lengths_B[static_cast<size_t>(b)];
        for (int64_t t = 0; t < length; ++t) {
            index[b][t] = length - 1 - t;
        }
    }
    return index_BT;
}

torch::Tensor reverse_in_time(const torch::Tensor& x_BTD, const torch::Tensor& reversal_BT) {
    return x_BTD.gather(1, reversal_BT.unsqueeze(-1).expand_as(x_BTD));
}

}  // namespace

BiLstmLayerImpl::BiLstmLayerImpl(const Options& options) : options_(options) {
    const int64_t gates = kGates * options.cell_dim;
    const int64_t projection = options.projection_dim;
    input_weight =
        register_parameter("input_weight", torch::empty({kDirections, projection, gates}), false);
    state_weight =
        register_parameter("state_weight", torch::empty({kDirections, projection, gates}), false);
    gate_bias = register_parameter("gate_bias", torch::empty({kDirections, 1, gates}), false);
    projection_weight = register_parameter(
        "projection_weight", torch::empty({kDirections, options.cell_dim, projection}), false);
}

torch::Tensor BiLstmLayerImpl::input_gates(const torch::Tensor& x_2SAP,
                                           const torch::Tensor& buffer) const {
    const int64_t steps = x_2SAP.size(1);
    const int64_t rows = x_2SAP.size(2);
    const int64_t gates = input_weight.size(2);
    torch::Tensor gates_2NG =
        buffer.narrow(0, 0, kDirections * steps * rows * gates).view({kDirections, -1, gates});
    torch::baddbmm_out(gates_2NG, gate_bias, x_2SAP.reshape({kDirections, steps * rows, -1}),
                       input_weight);
    return gates_2NG.view({kDirections, steps, rows, gates});
}

torch::Tensor BiLstmLayerImpl::forward(const torch::Tensor& x_2TBP,
                                       const std::vector<int64_t>& lengths_B,
                                       int64_t input_gate_bytes) {
    const int64_t steps = x_2TBP.size(1);
    const int64_t batch = x_2TBP.size(2);
    const int64_t step_gate_bytes =
        kDirections * kGates * options_.cell_dim * static_cast<int64_t>(x_2TBP.element_size());
    torch::Tensor out_2TBP = x_2TBP.new_zeros({kDirections, steps, batch, options_.projection_dim});
    torch::Tensor memory_2BC = x_2TBP.new_zeros({kDirections, batch, options_.cell_dim});

    // Every chunk's input gates go to one buffer, with room for the most (step, sequence) rows
    // a chunk can have: a fresh allocation this large would be fresh pages from the kernel.
    const int64_t gate_rows =
        std::min(std::max(input_gate_bytes / step_gate_bytes, batch), steps * batch);
    const torch::Tensor gate_buffer = x_2TBP.new_empty(
        {gate_rows * step_gate_bytes / static_cast<int64_t>(x_2TBP.element_size())});
    torch::Tensor input_gates_2SAG;
    int64_t chunk_start = 0;
    int64_t active = batch;
    for (int64_t t = 0; t < steps; ++t) {
        // Sequences are sorted longest first, so those still running at t are a prefix.
        while (active > 0 && lengths_B[static_cast<size_t>(active - 1)] <= t) {
            --active;
        }
        if (active == 0) {
            break;
        }
        if (!input_gates_2SAG.defined() || t == chunk_start + input_gates_2SAG.size(1)) {
            const int64_t chunk =
                std::clamp(input_gate_bytes / (active * step_gate_bytes), int64_t{1}, steps - t);
            chunk_start = t;
            input_gates_2SAG =
                input_gates(x_2TBP.narrow(1, t, chunk).narrow(2, 0, active), gate_buffer);
        }
        const torch::Tensor gates_2AG =
            input_gates_2SAG.select(1, t - chunk_start).narrow(1, 0, active);
        if (t > 0) {
            add_recurrent_gates(out_2TBP.select(1, t - 1).narrow(1, 0, active), gates_2AG);
        }
        const torch::Tensor output_2AP = out_2TBP.select(1, t).narrow(1, 0, active);
        project(cell(gates_2AG, memory_2BC.narrow(1, 0, active)), output_2AP);
        if (options_.projection_clip > 0) {
            output_2AP.clamp_(-options_.projection_clip, options_.projection_clip);
        }
    }
    return out_2TBP;
}

void BiLstmLayerImpl::add_recurrent_gates(const torch::Tensor& previous_2AP,
                                          const torch::Tensor& gates_2AG) const {
    if (packed_state_.empty()) {
        gates_2AG.baddbmm_(previous_2AP, state_weight);
        return;
    }
    multiply_packed({{previous_2AP[0], &packed_state_[0], gates_2AG[0], true},
                     {previous_2AP[1], &packed_state_[1], gates_2AG[1], true}});
}

torch::Tensor BiLstmLayerImpl::cell(const torch::Tensor& gates_2AG,
                                    const torch::Tensor& memory_2AC) const {
    // Packed weights mean float32 on the CPU, where the cell has its own kernel.
    if (!packed_state_.empty()) {
        return lstm_cell_on_cpu(gates_2AG, memory_2AC, static_cast<float>(options_.cell_clip));
    }
    const std::vector<torch::Tensor> g = gates_2AG.chunk(kGates, -1);
    torch::Tensor new_memory = torch::sigmoid(g[kInputGate]) * torch::tanh(g[kMemoryGate]) +
                               torch::sigmoid(g[kForgetGate]) * memory_2AC;
    if (options_.cell_clip > 0) {
        new_memory.clamp_(-options_.cell_clip, options_.cell_clip);
    }
    memory_2AC.copy_(new_memory);
    return torch::sigmoid(g[kOutputGate]) * torch::tanh(new_memory);
}

void BiLstmLayerImpl::project(const torch::Tensor& cell_2AC, const torch::Tensor& out_2AP) const {
    if (packed_projection_.empty()) {
        out_2AP.copy_(torch::bmm(cell_2AC, projection_weight));
        return;
    }
    multiply_packed({{cell_2AC[0], &packed_projection_[0], out_2AP[0], false},
                     {cell_2AC[1], &packed_projection_[1], out_2AP[1], false}});
}

void BiLstmLayerImpl::pack_weights() {
    if (!packed_state_.empty() || !state_weight.device().is_cpu() ||
        state_weight.scalar_type() != torch::kFloat32) {
        return;
    }
    for (int64_t direction = 0; direction < kDirections; ++direction) {
        packed_state_.emplace_back(state_weight[direction]);
        packed_projection_.emplace_back(projection_weight[direction]);
    }
    state_weight.set_data(torch::empty({0}));
    projection_weight.set_data(torch::empty({0}));
}

void BiLstmLayerImpl::expect_weights(const Options& options, StrictLoader& loader, size_t layer) {
    const int64_t projection = options.projection_dim;
    for (int64_t direction = 0; direction < kDirections; ++direction) {
        const std::string prefix = cell_prefix(direction, layer);
        loader.expect(prefix + "W_0", {2 * projection, kGates * options.cell_dim});
        loader.expect(prefix + "B", {kGates * options.cell_dim});
        loader.expect(prefix + "W_P_0", {options.cell_dim, projection});
    }
}

void BiLstmLayerImpl::load_weights(const StrictLoader& loader, size_t layer) {
    torch::NoGradGuard no_grad;
    const int64_t cell = options_.cell_dim;
    const int64_t projection = options_.projection_dim;
    for (int64_t direction = 0; direction < kDirections; ++direction) {
        const std::string prefix = cell_prefix(direction, layer);
        // W_0 stacks the input and the recurrent weights: (input + recurrent, 4 * cell).
        const torch::Tensor stacked = loader.read(prefix + "W_0");
        copy_gates(input_weight[direction], stacked.narrow(0, 0, projection), cell);
        copy_gates(state_weight[direction], stacked.narrow(0, projection, projection), cell);
        torch::Tensor bias = loader.read(prefix + "B").clone();
        bias.narrow(0, kTensorFlowForgetGate * cell, cell) += kTensorFlowForgetBias;
        copy_gates(gate_bias[direction][0], bias, cell);
        projection_weight[direction].copy_(loader.read(prefix + "W_P_0"));
    }
}

BiLstmImpl::BiLstmImpl(const Options& options) : options_(options) {
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t layer = 0; layer < options.lstm_layers; ++layer) {
        layers->push_back(BiLstmLayer(options));
    }
}

void BiLstmImpl::forward(const torch::Tensor& tokens_BTP, const std::vector<int64_t>& lengths_B,
                         const torch::Tensor& outputs_LBTD) {
    // The layers want sequences longest first; index_copy_ puts them back in the caller's order.
    std::vector<int64_t> order(lengths_B.size());
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return lengths_B[a] > lengths_B[b]; });
    std::vector<int64_t> sorted_lengths;
    for (const int64_t i : order) {
        sorted_lengths.push_back(lengths_B[static_cast<size_t>(i)]);
    }
    const torch::Device device = tokens_BTP.device();
    const torch::Tensor order_B = torch::tensor(order, torch::kInt64).to(device);
    const torch::Tensor reversal_BT = reversal(sorted_lengths, tokens_BTP.size(1)).to(device);

    const torch::Tensor sorted_BTP = tokens_BTP.index_select(0, order_B);
    torch::Tensor x_2TBP = torch::stack({sorted_BTP, reverse_in_time(sorted_BTP, reversal_BT)})
                               .transpose(1, 2)
                               .contiguous();
    const int64_t projection = options_.projection_dim;
    for (size_t layer = 0; layer < layers->size(); ++layer) {
        torch::Tensor next_2TBP =
            layers[layer]->as<BiLstmLayer>()->forward(x_2TBP, sorted_lengths, input_gate_bytes);
        if (layer > 0 && options_.skip_connections) {
            next_2TBP += x_2TBP;
        }
        x_2TBP = next_2TBP;
        const torch::Tensor out_BTD = outputs_LBTD[static_cast<int64_t>(layer)];
        out_BTD.narrow(2, 0, projection).index_copy_(0, order_B, x_2TBP[0].transpose(0, 1));
        out_BTD.narrow(2, projection, projection)
            .index_copy_(0, order_B, reverse_in_time(x_2TBP[1].transpose(0, 1), reversal_BT));
    }
}

void BiLstmImpl::expect_weights(const Options& options, StrictLoader& loader) {
    for (int64_t layer = 0; layer < options.lstm_layers; ++layer) {
        BiLstmLayerImpl::expect_weights(options, loader, static_cast<size_t>(layer));
    }
}

void BiLstmImpl::load_weights(const StrictLoader& loader) {
    for (size_t layer = 0; layer < layers->size(); ++layer) {
        layers[layer]->as<BiLstmLayer>()->load_weights(loader, layer);
    }
}

void BiLstmImpl::pack_weights() {
    for (size_t layer = 0; layer < layers->size(); ++layer) {
        layers[layer]->as<BiLstmLayer>()->pack_weights();
    }
}

}  // namespace embed::elmo
