// End to end, what is refused: bad records (or skipped with --skip-invalid), empty input, model
// problems, bad flags, CUDA asked for without CUDA; each with its exit status, writing nothing.
#include "base/hdf5.h"
#include "job/pipeline.h"

#include "cli_test.h"

namespace embed {
namespace {

namespace fs = std::filesystem;
using testing::Cli;
using testing::contains;
using testing::example_fasta;
using testing::kExitBadInput;
using testing::local_model;
using testing::read_all;
using testing::run_embed;
using testing::TempDir;
using testing::write_file;

struct BadInput {
    std::string name;
    std::string fasta;
    std::string message;  // what the error must say, file name excluded
};

std::ostream& operator<<(std::ostream& out, const BadInput& b) {
    return out << b.name;
}

class CliBadInput : public Cli, public ::testing::WithParamInterface<BadInput> {};

TEST_P(CliBadInput, FailsNamingFileLineAndRecordAndWritesNothing) {
    const fs::path fasta = dir_ / "bad.fasta";
    write_file(fasta, GetParam().fasta);
    write_file(out_, "previous results");
    const auto result = run_embed(fasta.string() + " -o " + out_.string() + " -m " + local_model() +
                                  " --overwrite");
    EXPECT_EQ(result.status, kExitBadInput) << result.output;
    EXPECT_TRUE(contains(result.output, fasta.string() + GetParam().message)) << result.output;
    EXPECT_FALSE(contains(result.output, "loaded in")) << "input is checked before the model loads";
    EXPECT_EQ(read_all(out_), "previous results") << "an existing output must stay untouched";
    EXPECT_EQ(std::distance(fs::directory_iterator(dir_.path()), fs::directory_iterator()), 2)
        << "no temporary file may be left behind";

    const fs::path fresh = dir_ / "fresh.h5";
    EXPECT_EQ(run_embed(fasta.string() + " -o " + fresh.string() + " -m " + local_model()).status,
              kExitBadInput);
    EXPECT_FALSE(fs::exists(fresh));
}

TEST_P(CliBadInput, SkipInvalidKeepsTheGoodRecords) {
    const fs::path fasta = dir_ / "bad.fasta";
    write_file(fasta, GetParam().fasta + ">good\nMKTAYIAK\n");
    const auto result = run_embed(fasta.string() + " -o " + out_.string() + " -m " + local_model() +
                                  " --skip-invalid");
    ASSERT_EQ(result.status, 0) << result.output;
    EXPECT_TRUE(contains(result.output, "skipped: " + fasta.string() + GetParam().message))
        << result.output;
    EXPECT_TRUE(contains(result.output, "1 invalid records skipped")) << result.output;
    const h5::Handle file = h5::open_file(out_.string());
    const auto keys = h5::member_names(h5::open_group(file.id(), "per_residue").id());
    EXPECT_EQ(keys.back(), "good");
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, CliBadInput,
    ::testing::Values(
        BadInput{"EmptySequence", ">a\nMKT\n>b\n*\n", ":3: record 'b': empty sequence"},
        BadInput{"HeaderWithoutSequence", ">a\nMKT\n>b only a header\n",
                 ":3: record 'b': header without a sequence"},
        BadInput{"TextBeforeHeader", "MKT\n>a\nMKT\n", ":1: text before the first '>' header"},
        BadInput{"InvalidCharacter", ">a\nMKT\n>b\nMKTL\nAAJA\n",
                 ":3: record 'b': residue 'J' at position 7 (line 5) is not in the ESM alphabet"},
        BadInput{"Digit", ">a\nMK1T\n", ":1: record 'a': residue '1' at position 3 (line 2)"},
        BadInput{"DuplicateId", ">a\nMKT\n>a second\nLLV\n",
                 ":3: record 'a': duplicate id; first seen at line 1"},
        BadInput{"KeyCollision", ">a/b\nMKT\n>a_b\nLLV\n",
                 ":3: record 'a_b': its output key 'a_b' ('/' becomes '_') collides with the "
                 "record at line 1"},
        BadInput{"HeaderWithoutId", ">a\nMKT\n>\nLLV\n", ":3: header without an id"}));

TEST_F(Cli, EmptyInputIsAnError) {
    write_file(dir_ / "empty.fasta", "");
    const auto result = run_embed((dir_ / "empty.fasta").string() + " -o " + out_.string() +
                                  " -m " + local_model());
    EXPECT_EQ(result.status, kExitBadInput);
    EXPECT_TRUE(contains(result.output, "no proteins to embed")) << result.output;
    EXPECT_FALSE(fs::exists(out_));
}

TEST_F(Cli, ModelProblemsAreReportedAndWriteNothing) {
    const auto missing =
        run_embed(example_fasta() + " -o " + out_.string() + " -m /nonexistent.pt");
    EXPECT_EQ(missing.status, kExitBadInput);
    EXPECT_TRUE(contains(missing.output,
                         "--model /nonexistent.pt: no such file or directory, and not a released "
                         "model's name"))
        << missing.output;

    const std::string good = read_all(local_model() + "/pytorch_model.bin");
    write_file(dir_ / "cut.pt", good.substr(0, good.size() / 2));
    const auto cut =
        run_embed(example_fasta() + " -o " + out_.string() + " -m " + (dir_ / "cut.pt").string());
    EXPECT_EQ(cut.status, 1);
    EXPECT_TRUE(contains(cut.output, "cut.pt: not a readable zip archive")) << cut.output;
    EXPECT_FALSE(fs::exists(out_));
}

TEST_F(Cli, BadFlagsAreUsageErrors) {
    const std::string base = example_fasta() + " -o " + out_.string() + " -m " + local_model();
    for (const std::string flags : {"--layers 3", "--layers x", "--pooling max", "--long drop",
                                    "--max-tokens 0", "--device tpu", "--bogus"}) {
        const auto result = run_embed(base + " " + flags);
        EXPECT_EQ(result.status, kExitBadInput) << flags << "\n" << result.output;
        EXPECT_FALSE(fs::exists(out_)) << flags;
    }
    const auto no_dir = run_embed(example_fasta() + " -o /nonexistent/out.h5 -m " + local_model());
    EXPECT_NE(no_dir.status, 0);
    EXPECT_TRUE(contains(no_dir.output, "/nonexistent")) << no_dir.output;
}

// The library checks what the command line's own checks keep from it.
TEST(EmbedFasta, ANonPositiveTokenBudgetIsRefusedBeforeAnyWork) {
    TempDir dir;
    for (const int64_t budget : {0, -4096}) {
        EmbedOptions options;
        options.input = "/nonexistent/input.fasta";
        options.output = dir / "out.h5";
        options.max_tokens = budget;
        try {
            embed_fasta(options);
            ADD_FAILURE() << budget;
        } catch (const std::invalid_argument& e) {
            EXPECT_EQ(std::string(e.what()), "--max-tokens must be positive");
        }
        EXPECT_FALSE(fs::exists(options.output));
    }
}

TEST_F(Cli, ExplicitCudaWithoutCudaIsAnError) {
    if (torch::cuda::is_available()) {
        GTEST_SKIP() << "a GPU is present";
    }
    const auto result = run_embed(example_fasta() + " -o " + out_.string() + " -m " +
                                  local_model() + " --device cuda");
    EXPECT_EQ(result.status, kExitBadInput);
    EXPECT_TRUE(contains(result.output, "CUDA is not available")) << result.output;
}

}  // namespace
}  // namespace embed
