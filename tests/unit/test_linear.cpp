// The CPU's linear layers (models/linear.h) against LibTorch's own: rows split across threads, and
// the feed-forward layers a block of rows at a time.
#include <gtest/gtest.h>

#include "encode/runtime.h"
#include "kernels/linear.h"

#include "test_support.h"

namespace embed {
namespace {

using testing::max_abs_diff;

struct Weights {
    torch::Tensor fc1_weight, fc1_bias, fc2_weight, fc2_bias;
};

Weights random_weights(int64_t width, int64_t hidden, torch::ScalarType dtype) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(width));
    return {(torch::randn({hidden, width}) * scale).to(dtype), torch::randn({hidden}).to(dtype),
            (torch::randn({width, hidden}) * scale).to(dtype), torch::randn({width}).to(dtype)};
}

// Rows: fewer than a block, not a multiple of the 256-row blocks, more than two threads' blocks;
// a batch (B, T, D) as ESM's padded layers pass it.
TEST(Linear, FeedForwardEqualsLibTorchsForAnyRowsThreadsAndDtype) {
    torch::manual_seed(1);
    const int threads = at::get_num_threads();
    for (const torch::ScalarType dtype : {torch::kFloat32, torch::kBFloat16}) {
        const Weights w = random_weights(48, 192, dtype);
        for (const auto& shape :
             std::vector<std::vector<int64_t>>{{1, 48}, {100, 48}, {1001, 48}, {3, 257, 48}}) {
            const torch::Tensor x = torch::randn(shape).to(dtype);
            const torch::Tensor expected = torch::linear(
                torch::gelu(torch::linear(x, w.fc1_weight, w.fc1_bias)), w.fc2_weight, w.fc2_bias);
            for (const int n : {1, 2}) {
                set_cpu_threads(n);
                const torch::Tensor got =
                    feed_forward(x, w.fc1_weight, w.fc1_bias, w.fc2_weight, w.fc2_bias);
                ASSERT_EQ(got.sizes(), expected.sizes());
                ASSERT_EQ(got.scalar_type(), dtype);
                // bfloat16 rounds each product's result: a few of its ulps of values of order 1.
                EXPECT_LT(max_abs_diff(got.to(torch::kFloat32), expected.to(torch::kFloat32)),
                          dtype == torch::kFloat32 ? 1e-5 : 0.05)
                    << c10::toString(dtype) << ", " << shape[0] << " rows, " << n << " threads";
            }
        }
    }
    set_cpu_threads(threads);
}

TEST(Linear, RowsSplitAcrossThreadsEqualLibTorchs) {
    torch::manual_seed(2);
    const int threads = at::get_num_threads();
    const Weights w = random_weights(40, 24, torch::kFloat32);
    for (const int64_t rows : {1, 127, 128, 1001}) {
        const torch::Tensor x = torch::randn({rows, 40});
        for (const int n : {1, 2}) {
            set_cpu_threads(n);
            EXPECT_LT(max_abs_diff(linear(x, w.fc1_weight, w.fc1_bias),
                                   torch::linear(x, w.fc1_weight, w.fc1_bias)),
                      1e-5)
                << rows << " rows, " << n << " threads";
        }
    }
    set_cpu_threads(threads);
}

}  // namespace
}  // namespace embed
