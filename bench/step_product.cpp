// One SeqVec LSTM step's two matrix products, as BLAS computes them and with packed weights
// (src/kernels/packed_weights.h), for a range of running sequences. Prints a line per row count:
//
//     embed_step_product_bench [THREADS [ROWS,ROWS,...]]
//         ->  "rows 4: blas 18.9 ms, packed 5.6 ms (3.4x)"
//
// Shapes: both directions, gates (rows, 512) x (512, 16384) added to the input's share, then the
// projection (rows, 4096) x (4096, 512).
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "base/cpus.h"
#include "encode/runtime.h"
#include "kernels/packed_weights.h"

#include "timing.h"

namespace {

constexpr int64_t kProjection = 512;
constexpr int64_t kCell = 4096;
constexpr int64_t kGates = 4 * kCell;

double milliseconds(const std::function<void()>& step) {
    return 1e3 * embed::bench::seconds_per_call(step, 0.5, 5);
}

}  // namespace

int main(int argc, char** argv) {
    embed::keep_freed_memory_for_reuse();
    embed::set_cpu_threads(argc > 1 ? std::stoi(argv[1]) : embed::available_cpus());
    torch::NoGradGuard no_grad;
    const torch::Tensor state_2PG = torch::randn({2, kProjection, kGates});
    const torch::Tensor projection_2CP = torch::randn({2, kCell, kProjection});
    const embed::PackedWeights state[2] = {embed::PackedWeights(state_2PG[0]),
                                           embed::PackedWeights(state_2PG[1])};
    const embed::PackedWeights projection[2] = {embed::PackedWeights(projection_2CP[0]),
                                                embed::PackedWeights(projection_2CP[1])};
    std::vector<int64_t> row_counts = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96};
    if (argc > 2) {
        row_counts.clear();
        std::stringstream list(argv[2]);
        for (std::string item; std::getline(list, item, ',');) {
            row_counts.push_back(std::stoll(item));
        }
    }
    for (const int64_t rows : row_counts) {
        const torch::Tensor h_2AP = torch::randn({2, rows, kProjection});
        const torch::Tensor gates_2AG = torch::randn({2, rows, kGates});
        const torch::Tensor cell_2AC = torch::randn({2, rows, kCell});
        torch::Tensor out_2AP = torch::empty({2, rows, kProjection});
        const double blas = milliseconds([&] {
            gates_2AG.baddbmm_(h_2AP, state_2PG);
            torch::bmm_out(out_2AP, cell_2AC, projection_2CP);
        });
        const double packed = milliseconds([&] {
            embed::multiply_packed({{h_2AP[0], &state[0], gates_2AG[0], true},
                                    {h_2AP[1], &state[1], gates_2AG[1], true}});
            embed::multiply_packed({{cell_2AC[0], &projection[0], out_2AP[0], false},
                                    {cell_2AC[1], &projection[1], out_2AP[1], false}});
        });
        std::printf("rows %3ld: blas %6.2f ms, packed %6.2f ms (%.2fx)\n", static_cast<long>(rows),
                    blas, packed, blas / packed);
    }
    return 0;
}
