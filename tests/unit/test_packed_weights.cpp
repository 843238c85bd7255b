// The few-row matrix products of models/packed_weights.h against torch's.
#include <gtest/gtest.h>

#include "base/cpus.h"
#include "encode/runtime.h"
#include "kernels/packed_weights.h"

#include "test_support.h"

namespace embed {
namespace {

using testing::max_abs_diff;

// Products of float32 sums of up to 4096 terms of order 1, in another order than BLAS's.
constexpr double kTolerance = 1e-3;

TEST(PackedWeights, ProductsEqualTorchsForAnyShapeRowsAndThreads) {
    torch::manual_seed(0);
    for (const int threads : {1, 2}) {
        set_cpu_threads(threads);
        // Columns not a multiple of the panel's 16; inputs not a multiple of anything.
        for (const auto& [inputs, outputs] : std::vector<std::pair<int64_t, int64_t>>{
                 {512, 16384}, {37, 50}, {4096, 512}, {1, 3}}) {
            const torch::Tensor w_KN = torch::randn({inputs, outputs});
            const PackedWeights packed(w_KN);
            for (const int64_t rows : {1, 5, 6, 7, 13, 40}) {
                // Rows further apart than they are long, as the LSTM's views of its states.
                const torch::Tensor x_AK = torch::randn({rows, inputs + 3}).narrow(1, 0, inputs);
                const torch::Tensor start = torch::randn({rows, outputs + 5});
                torch::Tensor sum_AN = start.clone().narrow(1, 0, outputs);
                torch::Tensor product_AN = torch::full({rows, outputs}, 7.0f);
                multiply_packed(
                    {{x_AK, &packed, sum_AN, true}, {x_AK, &packed, product_AN, false}});
                const torch::Tensor expected = torch::mm(x_AK, w_KN);
                const std::string shape = std::to_string(rows) + " x " + std::to_string(inputs) +
                                          " x " + std::to_string(outputs) + ", " +
                                          std::to_string(threads) + " threads";
                EXPECT_LT(max_abs_diff(product_AN, expected), kTolerance) << shape;
                EXPECT_LT(max_abs_diff(sum_AN, start.narrow(1, 0, outputs) + expected), kTolerance)
                    << shape;
            }
        }
    }
    set_cpu_threads(available_cpus());
}

TEST(PackedWeights, BothKernelsComputeTheSameTilesAndAddToThem) {
    torch::manual_seed(1);
    const torch::Tensor w_KN = torch::randn({300, 16});
    const PackedWeights packed(w_KN);
    const torch::Tensor x = torch::randn({6, 300});
    for (int64_t rows = 1; rows <= 6; ++rows) {
        const torch::Tensor expected = torch::mm(x.narrow(0, 0, rows), w_KN);
        const torch::Tensor start = torch::randn({rows, 16});
        for (const bool accumulate : {false, true}) {
            torch::Tensor fast = start.clone();
            torch::Tensor portable = start.clone();
            detail::multiply_panel(x.data_ptr<float>(), 300, rows, packed.panel(0), 300,
                                   fast.data_ptr<float>(), accumulate);
            detail::multiply_panel_portably(x.data_ptr<float>(), 300, rows, packed.panel(0), 300,
                                            portable.data_ptr<float>(), accumulate);
            const torch::Tensor want = accumulate ? start + expected : expected;
            EXPECT_LT(max_abs_diff(fast, want), kTolerance) << rows << " rows, " << accumulate;
            EXPECT_LT(max_abs_diff(portable, want), kTolerance) << rows << " rows, " << accumulate;
        }
    }
}

TEST(PackedWeights, AnyLayoutOfTheWeightsPacksTheSame) {
    const torch::Tensor w_NK = torch::randn({40, 24});
    const PackedWeights packed(w_NK.t());  // a transposed view: (24, 40), not contiguous
    const torch::Tensor x = torch::randn({3, 24});
    torch::Tensor out = torch::empty({3, 40});
    multiply_packed({{x, &packed, out, false}});
    EXPECT_LT(max_abs_diff(out, torch::mm(x, w_NK.t())), kTolerance);
    EXPECT_THROW(PackedWeights(torch::randn({5})), c10::Error);
}

TEST(PackedWeights, MismatchedShapesAreRefused) {
    const PackedWeights packed(torch::randn({8, 20}));
    torch::Tensor out = torch::empty({2, 20});
    EXPECT_THROW(multiply_packed({{torch::randn({2, 9}), &packed, out, false}}), c10::Error);
    EXPECT_THROW(multiply_packed({{torch::randn({3, 8}), &packed, out, false}}), c10::Error);
    EXPECT_THROW(
        multiply_packed({{torch::randn({2, 8}).t().t().to(torch::kFloat64), &packed, out, false}}),
        c10::Error);
}

}  // namespace
}  // namespace embed
