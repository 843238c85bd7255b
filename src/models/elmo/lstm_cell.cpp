#include "models/elmo/lstm_cell.h"

#include <ATen/Parallel.h>

#include "kernels/cpu_kernels.h"

namespace embed::elmo {
namespace detail {

void lstm_cell_row_portably(const float* gates, float* memory, float* hidden, int64_t cell,
                            float cell_clip) {
    kernels::lstm_cell_row<Isa::kPortable>(gates, memory, hidden, cell, cell_clip);
}

void lstm_cell_row(const float* gates, float* memory, float* hidden, int64_t cell,
                   float cell_clip) {
    static const kernels::LstmCellRow kRow = kernels::fastest(kernels::kLstmCellRow);
    kRow(gates, memory, hidden, cell, cell_clip);
}

}  // namespace detail

torch::Tensor lstm_cell_on_cpu(const torch::Tensor& gates_2AG, const torch::Tensor& memory_2AC,
                               float cell_clip) {
    TORCH_CHECK(
        gates_2AG.dim() == 3 && memory_2AC.dim() == 3 && gates_2AG.size(0) == memory_2AC.size(0) &&
            gates_2AG.size(1) == memory_2AC.size(1) && gates_2AG.size(2) == 4 * memory_2AC.size(2),
        "lstm_cell_on_cpu: gates (2, A, 4C) and memory (2, A, C) expected, got ", gates_2AG.sizes(),
        " and ", memory_2AC.sizes());
    TORCH_CHECK(gates_2AG.device().is_cpu() && memory_2AC.device().is_cpu() &&
                    gates_2AG.scalar_type() == torch::kFloat32 &&
                    memory_2AC.scalar_type() == torch::kFloat32 && gates_2AG.stride(2) == 1 &&
                    memory_2AC.stride(2) == 1,
                "lstm_cell_on_cpu: float32 CPU tensors with contiguous rows expected");
    const int64_t directions = gates_2AG.size(0);
    const int64_t active = gates_2AG.size(1);
    const int64_t cell = memory_2AC.size(2);
    torch::Tensor hidden_2AC = torch::empty({directions, active, cell}, memory_2AC.options());
    const float* gates = gates_2AG.data_ptr<float>();
    float* memory = memory_2AC.data_ptr<float>();
    float* hidden = hidden_2AC.data_ptr<float>();
    at::parallel_for(0, directions * active, 1, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
            const int64_t n = row / active;
            const int64_t a = row % active;
            detail::lstm_cell_row(gates + n * gates_2AG.stride(0) + a * gates_2AG.stride(1),
                                  memory + n * memory_2AC.stride(0) + a * memory_2AC.stride(1),
                                  hidden + row * cell, cell, cell_clip);
        }
    });
    return hidden_2AC;
}

}  // namespace embed::elmo
