// The shard-set checks of `embed merge` (check_shard_set), without files: every shard of one
// array job once, or an error naming the files.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "base/errors.h"
#include "output/merge.h"

namespace embed {
namespace {

namespace fs = std::filesystem;

RunAttributes shard_of(int64_t shard, int64_t shards) {
    RunAttributes a;
    a.model = "esm2_t6_8M_UR50D";
    a.shard = shard;
    a.shards = shards;
    return a;
}

// Reads the attributes of `files` from memory, recording the order it was asked in.
struct FakeFiles {
    explicit FakeFiles(std::map<fs::path, RunAttributes> files = {}) : files(std::move(files)) {}

    std::map<fs::path, RunAttributes> files;
    std::vector<fs::path> asked;

    RunAttributes read(const fs::path& file) {
        asked.push_back(file);
        return files.at(file);
    }
};

// check_shard_set's BadInput message for `shards`, or "" when it accepts them.
std::string refusal(FakeFiles& fake, const std::vector<fs::path>& shards) {
    try {
        check_shard_set(shards, [&](const fs::path& file) { return fake.read(file); });
        return "";
    } catch (const BadInput& e) {
        return e.what();
    }
}

TEST(MergeChecks, EveryShardOnceInAnyOrderIsAccepted) {
    FakeFiles fake{{{"a.h5", shard_of(2, 3)}, {"b.h5", shard_of(3, 3)}, {"c.h5", shard_of(1, 3)}}};
    const std::vector<fs::path> shards{"a.h5", "b.h5", "c.h5"};
    const RunAttributes first =
        check_shard_set(shards, [&](const fs::path& file) { return fake.read(file); });
    EXPECT_EQ(first.shard, 2);
    EXPECT_EQ(first.shards, 3);
    EXPECT_EQ(fake.asked, shards);  // each file read once, in the order given
}

TEST(MergeChecks, OneShardOfOneIsAccepted) {
    FakeFiles fake{{{"whole.h5", shard_of(1, 1)}}};
    EXPECT_EQ(refusal(fake, {"whole.h5"}), "");
}

TEST(MergeChecks, NoShardsIsBadInput) {
    FakeFiles fake;
    EXPECT_EQ(refusal(fake, {}), "no shards to merge");
    EXPECT_TRUE(fake.asked.empty());
}

TEST(MergeChecks, AShardGivenTwiceNamesBothFiles) {
    FakeFiles fake{{{"a.h5", shard_of(1, 2)}, {"b.h5", shard_of(2, 2)}, {"c.h5", shard_of(2, 2)}}};
    EXPECT_EQ(refusal(fake, {"a.h5", "b.h5", "c.h5"}), "shard 2 twice: b.h5 and c.h5");
}

TEST(MergeChecks, TheSameFileTwiceIsAShardTwice) {
    FakeFiles fake{{{"a.h5", shard_of(1, 2)}}};
    EXPECT_EQ(refusal(fake, {"a.h5", "a.h5"}), "shard 1 twice: a.h5 and a.h5");
}

TEST(MergeChecks, TheFirstMissingShardIsNamed) {
    FakeFiles fake{{{"a.h5", shard_of(1, 4)}, {"d.h5", shard_of(4, 4)}}};
    EXPECT_EQ(refusal(fake, {"a.h5", "d.h5"}), "shard 2 of 4 is missing (2 of 4 are)");
}

TEST(MergeChecks, AShardOfAnotherSplitNamesItsFileAndBothCounts) {
    FakeFiles fake{{{"a.h5", shard_of(1, 2)}, {"b.h5", shard_of(2, 3)}}};
    EXPECT_EQ(refusal(fake, {"a.h5", "b.h5"}),
              "b.h5 was written with other settings:\n  shards: 2 vs 3 (it is shard 2 of 3)");
}

TEST(MergeChecks, AReadFailureIsNotTurnedIntoBadInput) {
    const std::vector<fs::path> shards{"a.h5", "b.h5"};
    EXPECT_THROW(check_shard_set(shards,
                                 [](const fs::path& file) -> RunAttributes {
                                     if (file == "b.h5") {
                                         throw FileError(Location{file.string()}, "damaged");
                                     }
                                     return shard_of(1, 2);
                                 }),
                 FileError);
}

}  // namespace
}  // namespace embed
