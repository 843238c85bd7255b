// End to end, the shards of an array job: merged into the single run's file, and --shard auto
// reading Slurm's array variables.
#include "cli_test.h"

namespace embed {
namespace {

namespace fs = std::filesystem;
using testing::Cli;
using testing::contains;
using testing::expect_same_output;
using testing::kExitBadInput;
using testing::local_model;
using testing::random_proteins;
using testing::run_embed;
using testing::write_file;

TEST_F(Cli, ShardsMergeIntoTheSingleRunsFile) {
    write_file(dir_ / "many.fasta", random_proteins(60, 3));
    const std::string input = (dir_ / "many.fasta").string() + " -m " + local_model();
    std::string shards;
    for (int i = 1; i <= 3; ++i) {
        const fs::path shard = dir_ / ("shard_" + std::to_string(i) + ".h5");
        const auto result =
            run_embed(input + " -o " + shard.string() + " --shard " + std::to_string(i) + "/3");
        ASSERT_EQ(result.status, 0) << result.output;
        shards += " " + shard.string();
    }
    const auto missing = run_embed("merge " + (dir_ / "shard_1.h5").string() + " " +
                                   (dir_ / "shard_3.h5").string() + " -o " + out_.string());
    EXPECT_EQ(missing.status, kExitBadInput);
    EXPECT_TRUE(contains(missing.output, "shard 2 of 3 is missing")) << missing.output;
    const auto merged = run_embed("merge" + shards + " -o " + out_.string());
    ASSERT_EQ(merged.status, 0) << merged.output;
    const fs::path whole = dir_ / "whole.h5";
    ASSERT_EQ(run_embed(input + " -o " + whole.string()).status, 0);
    expect_same_output(out_, whole);
}

TEST_F(Cli, ShardAutoReadsTheSlurmArray) {
    write_file(dir_ / "many.fasta", random_proteins(30, 4));
    const std::string input = (dir_ / "many.fasta").string() + " -m " + local_model();
    const fs::path explicit_shard = dir_ / "explicit.h5";
    ASSERT_EQ(run_embed(input + " -o " + explicit_shard.string() + " --shard 2/3").status, 0);
    for (const std::string environment :
         {"SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_COUNT=3",
          "SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_MIN=4 SLURM_ARRAY_TASK_MAX=6"}) {
        const auto result = testing::run_embed_with_environment(
            environment, input + " -o " + out_.string() + " --shard auto --overwrite");
        ASSERT_EQ(result.status, 0) << environment << "\n" << result.output;
        EXPECT_TRUE(contains(result.output, "shard 2 of 3")) << result.output;
        expect_same_output(out_, explicit_shard);
    }
    const auto outside = run_embed(input + " -o " + (dir_ / "x.h5").string() + " --shard auto");
    EXPECT_EQ(outside.status, kExitBadInput);
    EXPECT_TRUE(contains(outside.output, "SLURM_ARRAY_TASK_ID")) << outside.output;
}

}  // namespace
}  // namespace embed
