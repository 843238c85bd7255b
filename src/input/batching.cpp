#include "input/batching.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "base/errors.h"

namespace embed {

std::vector<Batch> plan_batches(const std::vector<int64_t>& lengths, int64_t max_tokens,
                                int64_t extra_tokens_per_sequence) {
    if (max_tokens <= 0) {
        throw BadInput("the token budget must be positive, got " + std::to_string(max_tokens));
    }
    std::vector<size_t> order(lengths.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return lengths[a] > lengths[b]; });

    std::vector<Batch> batches;
    for (const size_t i : order) {
        // Longest first: the batch's first protein sets the padded width of every row.
        const bool fits =
            !batches.empty() && batches.back().padded_tokens(extra_tokens_per_sequence) +
                                        batches.back().longest + extra_tokens_per_sequence <=
                                    max_tokens;
        if (!fits) {
            batches.push_back(Batch{{}, lengths[i]});
        }
        batches.back().items.push_back(i);
    }
    return batches;
}

}  // namespace embed
