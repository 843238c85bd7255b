#include <set>

#include "input/batching.h"

#include "test_support.h"

namespace embed {
namespace {

constexpr int64_t kSpecial = 2;

TEST(Batching, EveryProteinOnceWithinBudgetLongestFirst) {
    const std::vector<int64_t> lengths = {10, 300, 5, 300, 120, 7, 64, 64, 1000, 2};
    const int64_t budget = 700;
    const auto batches = plan_batches(lengths, budget, kSpecial);
    std::multiset<size_t> seen;
    int64_t previous_longest = INT64_MAX;
    for (const Batch& batch : batches) {
        ASSERT_FALSE(batch.items.empty());
        EXPECT_LE(batch.longest, previous_longest);
        previous_longest = batch.longest;
        int64_t longest = 0;
        for (const size_t i : batch.items) {
            seen.insert(i);
            longest = std::max(longest, lengths[i]);
        }
        EXPECT_EQ(batch.longest, longest);
        if (batch.items.size() > 1) {
            EXPECT_LE(batch.padded_tokens(kSpecial), budget);
        }
    }
    EXPECT_EQ(seen.size(), lengths.size());
    EXPECT_EQ(std::set<size_t>(seen.begin(), seen.end()).size(), lengths.size());
}

TEST(Batching, OversizedProteinGetsItsOwnBatch) {
    const auto batches = plan_batches({5000, 10, 10}, 1000, kSpecial);
    ASSERT_EQ(batches.size(), 2u);
    EXPECT_EQ(batches[0].items, std::vector<size_t>{0});
    EXPECT_EQ(batches[1].items, (std::vector<size_t>{1, 2}));
}

TEST(Batching, PaddingCountsAgainstTheBudget) {
    // 3 x (100 + 2) = 306 tokens: fits 306, not 305.
    EXPECT_EQ(plan_batches({100, 1, 1}, 306, kSpecial).size(), 1u);
    EXPECT_EQ(plan_batches({100, 1, 1}, 305, kSpecial).size(), 2u);
}

TEST(Batching, EqualLengthsKeepInputOrder) {
    const auto batches = plan_batches({8, 8, 8, 8}, 1000, kSpecial);
    ASSERT_EQ(batches.size(), 1u);
    EXPECT_EQ(batches[0].items, (std::vector<size_t>{0, 1, 2, 3}));
}

TEST(Batching, EmptyInputAndBadBudget) {
    EXPECT_TRUE(plan_batches({}, 100, kSpecial).empty());
    EXPECT_THROW(plan_batches({1}, 0, kSpecial), std::invalid_argument);
}

}  // namespace
}  // namespace embed
