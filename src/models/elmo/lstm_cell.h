// The LSTM cell's elementwise work of one step on the CPU, in one pass over the gates: LibTorch's
// operators took a pass (and a parallel region) each.
#pragma once
#include <cstdint>

#include <torch/torch.h>

namespace embed::elmo {

/// The cell's gate blocks (AllenNLP's order), each `cell` values long, in every row of gates.
enum Gate : int64_t { kInputGate = 0, kForgetGate = 1, kMemoryGate = 2, kOutputGate = 3 };
constexpr int64_t kGates = 4;

/// AllenNLP's LSTM cell, float32 on the CPU, from one step's gates (2, A, 4C: the input, forget,
/// memory and output blocks) and the memory (2, A, C), updated in place:
///     memory <- sigmoid(input) tanh(memory gate) + sigmoid(forget) memory,
///               clipped to [-cell_clip, cell_clip] when cell_clip > 0;
/// returns sigmoid(output) tanh(memory), (2, A, C) contiguous. Rows may have any strides; each
/// row's values must be contiguous.
torch::Tensor lstm_cell_on_cpu(const torch::Tensor& gates_2AG, const torch::Tensor& memory_2AC,
                               float cell_clip);

namespace detail {
/// One row of lstm_cell_on_cpu: `gates` (4 * cell), `memory` (cell, updated), `hidden` (cell).
/// With AVX2 and FMA where the CPU has them.
void lstm_cell_row(const float* gates, float* memory, float* hidden, int64_t cell, float cell_clip);
/// The same in plain C++, for CPUs without them.
void lstm_cell_row_portably(const float* gates, float* memory, float* hidden, int64_t cell,
                            float cell_clip);
}  // namespace detail

}  // namespace embed::elmo
