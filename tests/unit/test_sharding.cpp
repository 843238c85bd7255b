// Shards of an array job: every protein in exactly one, about equal residues in each.
#include <cstdlib>

#include "input/sharding.h"

#include "test_support.h"

namespace embed {
namespace {

TEST(Sharding, EveryProteinInExactlyOneShardWithBalancedResidues) {
    std::vector<int64_t> lengths;
    int64_t total = 0;
    for (int i = 0; i < 1000; ++i) {
        lengths.push_back(50 + (i * 7919) % 900);
        total += lengths.back();
    }
    for (const int64_t count : {1, 2, 3, 7, 50}) {
        std::vector<int64_t> residues(static_cast<size_t>(count), 0);
        int64_t before = 0;
        for (const int64_t length : lengths) {
            int owners = 0;
            for (int64_t index = 1; index <= count; ++index) {
                if (Shard{index, count}.contains(before, length, total)) {
                    ++owners;
                    residues[static_cast<size_t>(index - 1)] += length;
                }
            }
            EXPECT_EQ(owners, 1);
            before += length;
        }
        for (const int64_t r : residues) {
            // Within one protein's worth (at most 949 residues) of an equal share.
            EXPECT_LT(std::abs(r - total / count), 950) << count << " shards";
        }
    }
}

TEST(Sharding, ParsesIOfNAndSlurmArrays) {
    EXPECT_EQ(parse_shard("2/5").index, 2);
    EXPECT_EQ(parse_shard("2/5").count, 5);
    EXPECT_THROW(parse_shard("0/5"), std::invalid_argument);
    EXPECT_THROW(parse_shard("6/5"), std::invalid_argument);
    EXPECT_THROW(parse_shard("2"), std::invalid_argument);
    EXPECT_THROW(parse_shard("a/b"), std::invalid_argument);

    ::unsetenv("SLURM_ARRAY_TASK_ID");
    EXPECT_THROW(parse_shard("auto"), std::invalid_argument);
    ::setenv("SLURM_ARRAY_TASK_ID", "7", 1);
    ::setenv("SLURM_ARRAY_TASK_MIN", "5", 1);
    ::setenv("SLURM_ARRAY_TASK_MAX", "9", 1);
    const Shard from_range = parse_shard("auto");
    EXPECT_EQ(from_range.index, 3);
    EXPECT_EQ(from_range.count, 5);
    ::setenv("SLURM_ARRAY_TASK_COUNT", "4", 1);
    ::setenv("SLURM_ARRAY_TASK_MIN", "0", 1);
    ::setenv("SLURM_ARRAY_TASK_ID", "3", 1);
    EXPECT_EQ(parse_shard("auto").index, 4);
    EXPECT_EQ(parse_shard("auto").count, 4);
    for (const char* name : {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX",
                             "SLURM_ARRAY_TASK_COUNT"}) {
        ::unsetenv(name);
    }
}

TEST(Sharding, ThreadsDefaultToSlurmsCpusPerTask) {
    ::setenv("SLURM_CPUS_PER_TASK", "1", 1);
    EXPECT_EQ(default_threads(), 1);
    ::unsetenv("SLURM_CPUS_PER_TASK");
    EXPECT_GE(default_threads(), 1);
}

}  // namespace
}  // namespace embed
