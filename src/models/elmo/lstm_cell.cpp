#include "models/elmo/lstm_cell.h"

#include <algorithm>

#include <ATen/Parallel.h>

#include "kernels/simd.h"
#include "kernels/vector_math.h"

namespace embed::elmo {
namespace {

/// Cells [first, cell) of a row, one at a time.
void lstm_cells(const float* gates, float* memory, float* hidden, int64_t cell, int64_t first,
                float cell_clip) {
    for (int64_t c = first; c < cell; ++c) {
        float m = vector_math::sigmoid(gates[kInputGate * cell + c]) *
                      vector_math::tanh(gates[kMemoryGate * cell + c]) +
                  vector_math::sigmoid(gates[kForgetGate * cell + c]) * memory[c];
        if (cell_clip > 0) {
            m = std::clamp(m, -cell_clip, cell_clip);
        }
        memory[c] = m;
        hidden[c] = vector_math::sigmoid(gates[kOutputGate * cell + c]) * vector_math::tanh(m);
    }
}

#ifdef EMBED_HAVE_AVX2_KERNELS
/// lstm_cells, eight at a time.
EMBED_AVX2 void lstm_cell_row_avx2(const float* gates, float* memory, float* hidden, int64_t cell,
                                   float cell_clip) {
    using vector_math::sigmoid;
    using vector_math::tanh;
    const bool clip = cell_clip > 0;
    const __m256 upper = _mm256_set1_ps(cell_clip);
    const __m256 lower = _mm256_set1_ps(-cell_clip);
    const int64_t vectors = cell / 8 * 8;
    for (int64_t c = 0; c < vectors; c += 8) {
        const __m256 input = sigmoid(_mm256_loadu_ps(gates + kInputGate * cell + c));
        const __m256 forget = sigmoid(_mm256_loadu_ps(gates + kForgetGate * cell + c));
        const __m256 candidate = tanh(_mm256_loadu_ps(gates + kMemoryGate * cell + c));
        const __m256 output = sigmoid(_mm256_loadu_ps(gates + kOutputGate * cell + c));
        __m256 m =
            _mm256_fmadd_ps(input, candidate, _mm256_mul_ps(forget, _mm256_loadu_ps(memory + c)));
        if (clip) {
            m = _mm256_min_ps(_mm256_max_ps(m, lower), upper);
        }
        _mm256_storeu_ps(memory + c, m);
        _mm256_storeu_ps(hidden + c, _mm256_mul_ps(output, tanh(m)));
    }
    lstm_cells(gates, memory, hidden, cell, vectors, cell_clip);
}
#endif

}  // namespace

namespace detail {

void lstm_cell_row_portably(const float* gates, float* memory, float* hidden, int64_t cell,
                            float cell_clip) {
    lstm_cells(gates, memory, hidden, cell, 0, cell_clip);
}

void lstm_cell_row(const float* gates, float* memory, float* hidden, int64_t cell,
                   float cell_clip) {
#ifdef EMBED_HAVE_AVX2_KERNELS
    if (cpu_has_avx2_fma()) {
        lstm_cell_row_avx2(gates, memory, hidden, cell, cell_clip);
        return;
    }
#endif
    lstm_cell_row_portably(gates, memory, hidden, cell, cell_clip);
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
