// The CPU kernels' sigmoid and tanh (models/vector_math.h) and SeqVec's fused LSTM cell
// (models/elmo/lstm_cell.h) against LibTorch's operators.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "base/cpus.h"
#include "encode/runtime.h"
#include "kernels/vector_math.h"
#include "models/elmo/lstm_cell.h"

#include "test_support.h"

namespace embed {
namespace {

using testing::max_abs_diff;

// Values from 0 through the ranges where sigmoid and tanh saturate, and beyond float's exp.
std::vector<float> probe_values() {
    std::vector<float> values = {0.0f,   -0.0f,   1e-30f, -1e-30f, 1e-7f,
                                 100.0f, -100.0f, 1e30f,  -1e30f};
    for (float x = -30; x <= 30; x += 0.001953125f) {
        values.push_back(x);
    }
    return values;
}

TEST(VectorMath, SigmoidAndTanhAreWithinTwoTenMillionthsOfStd) {
    double worst_sigmoid = 0;
    double worst_tanh = 0;
    for (const float x : probe_values()) {
        const double exact_sigmoid = 1.0 / (1.0 + std::exp(-static_cast<double>(x)));
        worst_sigmoid = std::max(worst_sigmoid, std::fabs(vector_math::sigmoid(x) - exact_sigmoid));
        worst_tanh = std::max(worst_tanh,
                              std::fabs(vector_math::tanh(x) - std::tanh(static_cast<double>(x))));
        EXPECT_EQ(std::signbit(vector_math::tanh(x)), std::signbit(x)) << x;
    }
    EXPECT_LT(worst_sigmoid, 2e-7);
    EXPECT_LT(worst_tanh, 2e-7);
#ifdef EMBED_HAVE_AVX2_KERNELS
    if (!cpu_has_avx2_fma()) {
        GTEST_SKIP() << "the AVX2 versions: this CPU has no AVX2 and FMA";
    }
    // Eight at a time, through the LSTM kernel's vectors: equal to the scalar versions'
    // results within an ulp (the same formulas, contracted differently).
    const std::vector<float> values = probe_values();
    const auto cells = static_cast<int64_t>(values.size()) / 8 * 8;
    torch::Tensor gates = torch::zeros({4, cells});
    for (int64_t c = 0; c < cells; ++c) {
        gates[0][c] = values[static_cast<size_t>(c)];  // input gate, against memory gate 0 ...
    }
    gates[2].fill_(1.0f);
    gates[3].fill_(1e30f);  // ... and an output gate of 1 leave tanh(sigmoid(x) tanh(1))
    torch::Tensor memory = torch::zeros({cells});
    torch::Tensor hidden = torch::empty({cells});
    elmo::detail::lstm_cell_row(gates.data_ptr<float>(), memory.data_ptr<float>(),
                                hidden.data_ptr<float>(), cells, 0);
    const torch::Tensor expected_memory = torch::sigmoid(gates[0]) * std::tanh(1.0f);
    EXPECT_LT(max_abs_diff(memory, expected_memory), 2e-7);
    EXPECT_LT(max_abs_diff(hidden, torch::tanh(expected_memory)), 2e-7);
#endif
}

// AllenNLP's cell in LibTorch's operators, as BiLstmLayerImpl::cell computes it off the CPU.
torch::Tensor reference_cell(const torch::Tensor& gates_2AG, torch::Tensor& memory_2AC,
                             float clip) {
    const std::vector<torch::Tensor> g = gates_2AG.chunk(4, -1);
    torch::Tensor memory =
        torch::sigmoid(g[0]) * torch::tanh(g[2]) + torch::sigmoid(g[1]) * memory_2AC;
    if (clip > 0) {
        memory.clamp_(-clip, clip);
    }
    memory_2AC = memory;
    return torch::sigmoid(g[3]) * torch::tanh(memory);
}

TEST(LstmCell, EqualsTorchsOperatorsForAnyRowsWidthsClipsAndThreads) {
    torch::manual_seed(0);
    for (const int threads : {1, 2}) {
        set_cpu_threads(threads);
        for (const int64_t cell : {4096, 13, 8, 1}) {
            for (const int64_t active : {1, 3, 7}) {
                for (const float clip : {0.0f, 3.0f}) {
                    // Strided as the LSTM's views: a chunk's step of more rows, of the buffer.
                    const torch::Tensor gates_2AG =
                        (4 * torch::randn({2, active + 2, 4 * cell + 8}))
                            .narrow(1, 0, active)
                            .narrow(2, 0, 4 * cell);
                    const torch::Tensor memory_2BC = 4 * torch::randn({2, active + 1, cell});
                    torch::Tensor expected_memory = memory_2BC.narrow(1, 0, active).clone();
                    const torch::Tensor expected = reference_cell(gates_2AG, expected_memory, clip);
                    const torch::Tensor hidden =
                        elmo::lstm_cell_on_cpu(gates_2AG, memory_2BC.narrow(1, 0, active), clip);
                    const std::string shape =
                        std::to_string(active) + " x " + std::to_string(cell) + ", clip " +
                        std::to_string(clip) + ", " + std::to_string(threads) + " threads";
                    EXPECT_LT(max_abs_diff(hidden, expected), 1e-6) << shape;
                    EXPECT_LT(max_abs_diff(memory_2BC.narrow(1, 0, active), expected_memory), 1e-6)
                        << shape;
                    if (clip > 0) {
                        EXPECT_LE(memory_2BC.narrow(1, 0, active).abs().max().item<float>(), clip)
                            << shape;
                    }
                }
            }
        }
    }
    set_cpu_threads(available_cpus());
}

TEST(LstmCell, PortableRowEqualsTheDispatchedOne) {
    torch::manual_seed(1);
    const int64_t cell = 1037;
    const torch::Tensor gates = 4 * torch::randn({4 * cell});
    const torch::Tensor start = 4 * torch::randn({cell});
    torch::Tensor memory[2] = {start.clone(), start.clone()};
    torch::Tensor hidden[2] = {torch::empty({cell}), torch::empty({cell})};
    elmo::detail::lstm_cell_row(gates.data_ptr<float>(), memory[0].data_ptr<float>(),
                                hidden[0].data_ptr<float>(), cell, 2.5f);
    elmo::detail::lstm_cell_row_portably(gates.data_ptr<float>(), memory[1].data_ptr<float>(),
                                         hidden[1].data_ptr<float>(), cell, 2.5f);
    EXPECT_LT(max_abs_diff(memory[0], memory[1]), 1e-6);
    EXPECT_LT(max_abs_diff(hidden[0], hidden[1]), 1e-6);
}

TEST(LstmCell, RefusesWhatItCannotCompute) {
    const torch::Tensor memory = torch::zeros({2, 3, 8});
    EXPECT_THROW(elmo::lstm_cell_on_cpu(torch::zeros({2, 3, 31}), memory, 0), c10::Error);
    EXPECT_THROW(elmo::lstm_cell_on_cpu(torch::zeros({2, 3, 32}, torch::kFloat64), memory, 0),
                 c10::Error);
    // Cells two floats apart.
    EXPECT_THROW(elmo::lstm_cell_on_cpu(torch::zeros({2, 3, 64}).slice(2, 0, 64, 2), memory, 0),
                 c10::Error);
}

}  // namespace
}  // namespace embed
