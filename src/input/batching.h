// Stage 2: proteins grouped into batches. Sorting by length keeps padding small; a token budget
// (padding counted) bounds the memory of one forward pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace embed {

struct Batch {
    std::vector<size_t> items;  ///< positions in the input, longest first
    int64_t longest = 0;        ///< residues of the longest item

    /// Tokens one forward pass holds, padding included.
    int64_t padded_tokens(int64_t extra_tokens_per_sequence) const {
        return static_cast<int64_t>(items.size()) * (longest + extra_tokens_per_sequence);
    }
};

/// Splits proteins of the given lengths into batches of at most `max_tokens` padded tokens,
/// counting `extra_tokens_per_sequence` special tokens per protein (BOS/EOS). A protein that
/// alone exceeds the budget gets a batch of its own. Batches come longest first, so the most
/// demanding one runs (and fails, if it must) early; ties keep input order.
std::vector<Batch> plan_batches(const std::vector<int64_t>& lengths, int64_t max_tokens,
                                int64_t extra_tokens_per_sequence);

}  // namespace embed
