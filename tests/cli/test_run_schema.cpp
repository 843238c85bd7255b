// Issue 17: the run attributes are one table (run_attribute_fields()). End to end, for every
// setting the table compares: --resume over parts of a run with that setting changed, and
// `embed merge` of shards differing in it, are refused with a message naming the attribute.
// The cases are instantiated from the table, so a new compared field without a case here fails.
#include <algorithm>
#include <map>

#include "output/hdf5_writer.h"
#include "output/output_parts.h"

#include "test_support.h"

namespace embed {
namespace {

namespace fs = std::filesystem;
using testing::contains;
using testing::data_file;
using testing::example_fasta;
using testing::kExitBadInput;
using testing::local_model;
using testing::read_all;
using testing::run_embed;
using testing::TempDir;
using testing::testdata;
using testing::write_file;

// The run every case departs from: the five example proteins on the committed tiny ESM-2.
std::string base_arguments() {
    return example_fasta() + " -m " + local_model();
}

// Arguments (input, model and options, without -o and --shard) of a run that differs from the
// base run in one compared setting, or in as few as the command line allows: `scratch` holds
// any file the case makes.
struct ChangedRun {
    std::function<std::string(const fs::path& scratch)> arguments;
    /// The case uses a fixture of ../shared/testdata.
    bool needs_shared = false;
    /// The --shard of the resumed run; empty: none, as the interrupted run.
    std::string resumed_shard = "";
    /// The --shard of the second shard to merge; the first is 1/2.
    std::string second_shard = "2/2";
};

// `directory` under the local model's name: another file of the same weights.
std::string copied_model(const fs::path& from, const fs::path& directory) {
    fs::create_directories(directory);
    for (const fs::directory_entry& file : fs::directory_iterator(from)) {
        fs::copy_file(file.path(), directory / file.path().filename());
    }
    return directory.string();
}

// The example proteins, the first one last: the same records in another order.
std::string reordered_fasta(const fs::path& scratch) {
    const std::string fasta = read_all(example_fasta());
    const size_t second = fasta.find("\n>") + 1;
    const fs::path path = scratch / "reordered.fasta";
    write_file(path, fasta.substr(second) + fasta.substr(0, second));
    return path.string();
}

// The example proteins and one more.
std::string longer_fasta(const fs::path& scratch) {
    const fs::path path = scratch / "longer.fasta";
    write_file(path, read_all(example_fasta()) + ">extra\nMKTAYIAKQRQISFVKSHFSRQ\n");
    return path.string();
}

const std::map<std::string, ChangedRun>& changed_runs() {
    const auto flags = [](const std::string& options) {
        return ChangedRun{[options](const fs::path&) { return base_arguments() + " " + options; }};
    };
    const auto input = [](std::string (*fasta)(const fs::path&)) {
        return ChangedRun{
            [fasta](const fs::path& scratch) { return fasta(scratch) + " -m " + local_model(); }};
    };
    static const std::map<std::string, ChangedRun> runs = {
        // The same weights in a directory of another name.
        {"model", {[](const fs::path& scratch) {
             return example_fasta() + " -m " + copied_model(local_model(), scratch / "other");
         }}},
        // SeqVec: another family, and of another width.
        {"model_family",
         {[](const fs::path&) {
              return example_fasta() + " -m " + testdata("seqvec_tiny").string();
          },
          true}},
        {"embedding_dim",
         {[](const fs::path&) {
              return example_fasta() + " -m " + testdata("seqvec_tiny").string();
          },
          true}},
        // The same weights as a fair-esm .pt under the local model's name.
        {"model_format",
         {[](const fs::path& scratch) {
              const fs::path pt =
                  scratch / (data_file("esm2_tiny_pytorch_bin").filename().string() + ".pt");
              fs::copy_file(testdata("esm2_tiny/esm2_tiny.pt"), pt);
              return example_fasta() + " -m " + pt.string();
          },
          true}},
        // The same model, name and format, but other bytes: the upstream safetensors.
        {"checkpoint_sha256",
         {[](const fs::path& scratch) {
              return example_fasta() + " -m " +
                     copied_model(testdata("esm2_tiny/hf"),
                                  scratch / data_file("esm2_tiny_pytorch_bin").filename());
          },
          true}},
        {"layers", flags("--layers 1")},
        {"layer_reduction", flags("--layers sum")},
        {"pooling", flags("--pooling bos")},
        {"max_length", flags("--max-length 500")},
        {"long_policy", flags("--long truncate")},
        {"dtype", flags("--dtype bfloat16")},
        {"groups", flags("--no-per-protein")},
        {"storage_dtype", flags("--storage-dtype float16")},
        {"compression", flags("--compress 4")},
        {"input_digest", input(reordered_fasta)},
        // Two of the five are over 60 residues and left out.
        {"input_proteins", flags("--max-length 60 --long skip")},
        {"input_records", input(longer_fasta)},
        {"shards",
         ChangedRun{[](const fs::path&) { return base_arguments(); }, false, "1/2", "2/3"}},
    };
    return runs;
}

std::vector<std::string> compared_fields() {
    std::vector<std::string> names;
    for (const RunAttributeField& field : run_attribute_fields()) {
        if (field.compared) {
            names.emplace_back(field.name);
        }
    }
    return names;
}

// How both refusals list a differing attribute: one per line, "name: this vs that".
std::string difference_line(const std::string& field) {
    return "\n  " + field + ": ";
}

class RunSchema : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        const auto found = changed_runs().find(GetParam());
        ASSERT_NE(found, changed_runs().end())
            << GetParam() << " is compared on --resume and merge: add a run that changes it";
        changed_ = &found->second;
        if (changed_->needs_shared) {
            REQUIRE_SHARED_TESTDATA();
        }
        fs::create_directory(dir_ / "scratch");
        arguments_ = changed_->arguments(dir_ / "scratch");
    }

    TempDir dir_;
    const ChangedRun* changed_ = nullptr;
    std::string arguments_;
};

TEST_P(RunSchema, ResumeWithTheSettingChangedIsRefused) {
    // A run interrupted after saving parts: a finished file holds what a part holds.
    const fs::path earlier = dir_ / "earlier.h5";
    const auto first = run_embed(base_arguments() + " -o " + earlier.string());
    ASSERT_EQ(first.status, 0) << first.output;
    const fs::path output = dir_ / "out.h5";
    fs::create_directory(OutputParts::directory_of(output));
    fs::copy_file(earlier, OutputParts::directory_of(output) / "part-000001.h5");

    const std::string shard =
        changed_->resumed_shard.empty() ? "" : " --shard " + changed_->resumed_shard;
    const auto resumed = run_embed(arguments_ + shard + " -o " + output.string() + " --resume");
    EXPECT_EQ(resumed.status, kExitBadInput) << resumed.output;
    EXPECT_TRUE(contains(resumed.output, "was written with other settings or input"))
        << resumed.output;
    EXPECT_TRUE(contains(resumed.output, difference_line(GetParam()))) << resumed.output;
    EXPECT_FALSE(fs::exists(output));
    EXPECT_TRUE(fs::exists(OutputParts::directory_of(output) / "part-000001.h5"))
        << "the saved work stays";
}

TEST_P(RunSchema, MergeOfShardsDifferingInTheSettingIsRefused) {
    const fs::path first = dir_ / "shard1.h5";
    const fs::path second = dir_ / "shard2.h5";
    const auto one = run_embed(base_arguments() + " --shard 1/2 -o " + first.string());
    ASSERT_EQ(one.status, 0) << one.output;
    const auto two =
        run_embed(arguments_ + " --shard " + changed_->second_shard + " -o " + second.string());
    ASSERT_EQ(two.status, 0) << two.output;

    const fs::path output = dir_ / "merged.h5";
    const auto merged =
        run_embed("merge " + first.string() + " " + second.string() + " -o " + output.string());
    EXPECT_EQ(merged.status, kExitBadInput) << merged.output;
    EXPECT_TRUE(contains(merged.output, "shard2.h5 was written with other settings"))
        << merged.output;
    EXPECT_TRUE(contains(merged.output, difference_line(GetParam()))) << merged.output;
    EXPECT_FALSE(fs::exists(output));
}

INSTANTIATE_TEST_SUITE_P(ComparedFields, RunSchema, ::testing::ValuesIn(compared_fields()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             return info.param;
                         });

// A case for a field the table does not compare would test nothing.
TEST(RunSchemaCases, NameOnlyComparedFields) {
    const std::vector<std::string> compared = compared_fields();
    for (const auto& [field, run] : changed_runs()) {
        EXPECT_NE(std::find(compared.begin(), compared.end(), field), compared.end())
            << field << " is not a compared field of run_attribute_fields()";
    }
}

}  // namespace
}  // namespace embed
