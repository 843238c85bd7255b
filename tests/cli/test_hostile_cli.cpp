// End-to-end: flags and outputs that a hostile test found passing or failing late (issue 16,
// items 9 and 14): each is refused or bounded at once, with one clear line.
#include <unistd.h>

#include "base/cpus.h"
#include "base/hdf5.h"
#include "encode/runtime.h"

#include "test_support.h"

namespace embed {
namespace {

namespace fs = std::filesystem;
using testing::contains;
using testing::example_fasta;
using testing::kExitBadInput;
using testing::local_model;
using testing::run_embed;
using testing::TempDir;

class HostileCli : public ::testing::Test {
protected:
    void SetUp() override { h5::silence_library_errors(); }
    std::string base() const {
        return example_fasta() + " -o " + out_.string() + " -m " + local_model();
    }
    TempDir dir_;
    fs::path out_ = dir_ / "out.h5";
};

// --threads 10000 on 2 CPUs ran 1,855 threads and did not finish in 90 s.
TEST_F(HostileCli, ThreadsBeyondTheCpusAreCappedWithAWarning) {
    const int cpus = available_cpus();
    const auto result = run_embed(base() + " --threads 10000");
    ASSERT_EQ(result.status, 0) << result.output;
    EXPECT_TRUE(contains(result.output, "--threads 10000: this process may run on " +
                                            std::to_string(cpus) + " CPUs; using " +
                                            std::to_string(cpus) + " threads"))
        << result.output;
    EXPECT_TRUE(contains(result.output, std::to_string(cpus) + " CPU threads")) << result.output;
}

TEST_F(HostileCli, NumericFlagsRefuseNotANumberAndStateTheirBoundShortly) {
    for (const std::string flags :
         {"--flush-seconds nan", "--flush-seconds inf", "--flush-seconds -1", "--threads -3",
          "--max-length -5", "--max-tokens 0", "--sort-window nan", "--flush-every 0"}) {
        const auto result = run_embed(base() + " " + flags);
        EXPECT_EQ(result.status, kExitBadInput) << flags << "\n" << result.output;
        EXPECT_TRUE(contains(result.output, "is not a number >")) << flags << "\n" << result.output;
        EXPECT_FALSE(contains(result.output, "17976931348623157")) << flags << "\n"
                                                                   << result.output;
        EXPECT_FALSE(fs::exists(out_)) << flags;
    }
}

// They failed only after the model had loaded, which for a real model is minutes on a cluster.
TEST_F(HostileCli, AnOutputOfTheWrongKindIsRefusedBeforeTheModelLoads) {
    fs::create_directory(out_);
    const auto directory = run_embed(base() + " --overwrite");
    EXPECT_EQ(directory.status, kExitBadInput) << directory.output;
    EXPECT_TRUE(contains(directory.output, out_.string() + " is a directory")) << directory.output;
    EXPECT_FALSE(contains(directory.output, "loaded in")) << directory.output;
    EXPECT_TRUE(fs::is_directory(out_));

    const fs::path file = dir_ / "file";
    testing::write_file(file, "keep me");
    const auto bio = run_embed(example_fasta() + " -o " + file.string() + " -m " + local_model() +
                               " --layout bio-embeddings --overwrite");
    EXPECT_EQ(bio.status, kExitBadInput) << bio.output;
    EXPECT_TRUE(contains(bio.output, file.string() + " is a file")) << bio.output;
    EXPECT_FALSE(contains(bio.output, "loaded in")) << bio.output;
}

// A legal 253-byte name failed after the model loaded: the hidden names beside it were too long.
TEST_F(HostileCli, AnOutputNameWithoutRoomForTheHiddenNamesIsRefusedBeforeTheModelLoads) {
    const fs::path too_long = dir_ / (std::string(250, 'a') + ".h5");
    const auto refused =
        run_embed(example_fasta() + " -o " + too_long.string() + " -m " + local_model());
    ASSERT_EQ(refused.status, kExitBadInput) << refused.output;
    EXPECT_TRUE(contains(refused.output, "a name of 253 bytes leaves no room")) << refused.output;
    EXPECT_FALSE(contains(refused.output, "loaded in")) << refused.output;
    EXPECT_TRUE(fs::is_empty(dir_.path()));

    // The limit it states works.
    const std::string marker = "use a name of at most ";
    const size_t at = refused.output.find(marker);
    ASSERT_NE(at, std::string::npos) << refused.output;
    const size_t limit = std::stoul(refused.output.substr(at + marker.size()));
    const fs::path longest = dir_ / (std::string(limit - 3, 'b') + ".h5");
    const auto fits =
        run_embed(example_fasta() + " -o " + longest.string() + " -m " + local_model());
    EXPECT_EQ(fits.status, 0) << fits.output;
    EXPECT_TRUE(fs::exists(longest));
}

// -o dir/ names the directory itself.
TEST_F(HostileCli, ABioEmbeddingsDirectoryNamedWithATrailingSlashIsWritten) {
    const fs::path directory = dir_ / "bio";
    const auto result = run_embed(example_fasta() + " -o " + directory.string() + "/ -m " +
                                  local_model() + " --layout bio-embeddings");
    ASSERT_EQ(result.status, 0) << result.output;
    EXPECT_TRUE(fs::exists(directory / "reduced_embeddings_file.h5"));
    for (const auto& entry : fs::directory_iterator(dir_.path())) {
        EXPECT_EQ(entry.path(), directory) << "left beside it";
    }
}

}  // namespace
}  // namespace embed
