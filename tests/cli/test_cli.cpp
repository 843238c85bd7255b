// End-to-end: the `embed` executable, its HDF5 read back. Most tests run on the tiny ESM-2 in
// tests/data (the upstream fixture re-saved as a Hugging Face pytorch_model.bin); those that
// compare values with the upstream Python need ../shared/testdata.
#include <fstream>
#include <random>
#include <sys/stat.h>
#include <unistd.h>

#include "embed/pipeline.h"
#include "embed/runtime.h"
#include "embed/util/hdf5.h"
#include "embed/util/md5.h"
#include "embed/util/sha256.h"
#include "models/simd.h"

#include "test_support.h"

namespace embed {
namespace {

namespace fs = std::filesystem;
using testing::contains;
using testing::example_fasta;
using testing::kBatchingTolerance;
using testing::kExitBadInput;
using testing::kParityTolerance;
using testing::local_model;
using testing::max_abs_diff;
using testing::random_proteins;
using testing::read_all;
using testing::read_tensor;
using testing::run_embed;
using testing::TempDir;
using testing::testdata;
using testing::write_file;

std::string esm2_pt() {
    return testdata("esm2_tiny/esm2_tiny.pt").string();
}
std::string fixture_fasta() {
    return testdata("esm2_tiny/input.fasta").string();
}

class Cli : public ::testing::Test {
protected:
    void SetUp() override { h5::silence_library_errors(); }
    TempDir dir_;
    fs::path out_ = dir_ / "out.h5";
};

// Compares values with expected.h5 from the upstream Python.
class CliParity : public Cli {
protected:
    void SetUp() override {
        REQUIRE_SHARED_TESTDATA();
        Cli::SetUp();
    }
};

TEST_F(CliParity, LayoutAttributesAndValues) {
    const auto result =
        run_embed(fixture_fasta() + " -o " + out_.string() + " -m " + esm2_pt() + " --layers all");
    ASSERT_EQ(result.status, 0) << result.output;
    EXPECT_TRUE(contains(result.output, "done: 5 proteins, 278 residues")) << result.output;

    const h5::Handle file = h5::open_file(out_.string());
    const h5::Handle reference = h5::open_file(testdata("expected.h5").string());
    const std::vector<std::string> input_order = {"sp|P0CG48|UBC_HUMAN", "insulin_B", "crambin",
                                                  "melittin", "GFP_N"};
    EXPECT_EQ(h5::member_names(h5::open_group(file.id(), "per_residue").id()), input_order);
    EXPECT_EQ(h5::member_names(h5::open_group(file.id(), "per_protein").id()), input_order);

    for (const std::string& key : input_order) {
        const torch::Tensor residues = read_tensor(file.id(), "per_residue/" + key);
        const torch::Tensor proteins = read_tensor(file.id(), "per_protein/" + key);
        ASSERT_EQ(residues.dim(), 3);
        EXPECT_EQ(residues.size(0), 3);
        EXPECT_EQ(residues.size(2), 32);
        EXPECT_EQ(proteins.sizes(), (std::vector<int64_t>{3, 32}));
        for (int64_t layer = 0; layer < 3; ++layer) {
            const std::string ref = "esm2_tiny/" + key + "/";
            EXPECT_LT(
                max_abs_diff(residues[layer],
                             read_tensor(reference.id(), ref + "layer_" + std::to_string(layer))),
                kParityTolerance);
            EXPECT_LT(
                max_abs_diff(proteins[layer],
                             read_tensor(reference.id(), ref + "mean_" + std::to_string(layer))),
                kParityTolerance);
        }
        const h5::Handle d = h5::open_dataset(file.id(), "per_residue/" + key);
        EXPECT_EQ(h5::read_string_attribute(d.id(), "original_id"), key);
        EXPECT_EQ(h5::read_int_attribute(d.id(), "length"), residues.size(1));
    }
    const h5::Handle ubc = h5::open_dataset(file.id(), "per_protein/sp|P0CG48|UBC_HUMAN");
    EXPECT_EQ(h5::read_string_attribute(ubc.id(), "description"), "Polyubiquitin-C fragment");

    const hid_t root = file.id();
    EXPECT_EQ(h5::read_string_attribute(root, "model"), "esm2_tiny");
    EXPECT_EQ(h5::read_string_attribute(root, "model_family"), "ESM-2");
    EXPECT_EQ(h5::read_string_attribute(root, "checkpoint"), fs::canonical(esm2_pt()).string());
    EXPECT_EQ(h5::read_string_attribute(root, "checkpoint_sha256"), sha256_files({esm2_pt()}));
    EXPECT_EQ(h5::read_int_array_attribute(root, "layers"), (std::vector<int64_t>{0, 1, 2}));
    EXPECT_EQ(h5::read_string_attribute(root, "pooling"), "mean");
    EXPECT_EQ(h5::read_int_attribute(root, "embedding_dim"), 32);
    EXPECT_EQ(h5::read_string_attribute(root, "tool_version"), EMBED_VERSION);
    EXPECT_TRUE(contains(h5::read_string_attribute(root, "command_line"), "--layers all"));
}

TEST_F(CliParity, DefaultIsLastLayerAndHuggingFaceMatches) {
    const auto result = run_embed(fixture_fasta() + " -o " + out_.string() + " -m " +
                                  testdata("esm2_tiny/hf").string() + " --threads 1");
    ASSERT_EQ(result.status, 0) << result.output;
    for (const char* logged :
         {"--threads 1", "LibTorch ", "HDF5 ", "device cpu, float32, 1 CPU threads",
          "model hf (ESM-2, Hugging Face directory, 2 layers, width 32", "residues/s"}) {
        EXPECT_TRUE(contains(result.output, logged)) << logged << "\n" << result.output;
    }
    const h5::Handle file = h5::open_file(out_.string());
    const h5::Handle reference = h5::open_file(testdata("expected.h5").string());
    EXPECT_EQ(h5::read_int_array_attribute(file.id(), "layers"), std::vector<int64_t>{2});
    const torch::Tensor melittin = read_tensor(file.id(), "per_residue/melittin");
    EXPECT_EQ(melittin.sizes(), (std::vector<int64_t>{26, 32}));
    EXPECT_LT(max_abs_diff(melittin, read_tensor(reference.id(), "esm2_tiny/melittin/layer_2")),
              kParityTolerance);
    EXPECT_LT(max_abs_diff(read_tensor(file.id(), "per_protein/melittin"),
                           read_tensor(reference.id(), "esm2_tiny/melittin/mean_2")),
              kParityTolerance);
}

TEST_F(CliParity, BosPooling) {
    ASSERT_EQ(run_embed(fixture_fasta() + " -o " + out_.string() + " -m " + esm2_pt() +
                        " --pooling bos --no-per-residue")
                  .status,
              0);
    const h5::Handle file = h5::open_file(out_.string());
    const h5::Handle reference = h5::open_file(testdata("expected.h5").string());
    EXPECT_LT(H5Lexists(file.id(), "per_residue", H5P_DEFAULT), 1);
    EXPECT_EQ(h5::read_string_attribute(file.id(), "pooling"), "bos");
    EXPECT_LT(max_abs_diff(read_tensor(file.id(), "per_protein/GFP_N"),
                           read_tensor(reference.id(), "esm2_tiny/GFP_N/bos_last")),
              kParityTolerance);
}

TEST_F(Cli, NoPerProteinAndNothingAtAll) {
    ASSERT_EQ(run_embed(example_fasta() + " -o " + out_.string() + " -m " + local_model() +
                        " --no-per-protein")
                  .status,
              0);
    const h5::Handle file = h5::open_file(out_.string());
    EXPECT_LT(H5Lexists(file.id(), "per_protein", H5P_DEFAULT), 1);
    const auto none = run_embed(example_fasta() + " -o " + (dir_ / "none.h5").string() + " -m " +
                                local_model() + " --no-per-protein --no-per-residue");
    EXPECT_EQ(none.status, kExitBadInput);
    EXPECT_TRUE(contains(none.output, "nothing to write")) << none.output;
}

TEST_F(Cli, PackedBatchesEqualOneByOne) {
    const fs::path packed = dir_ / "packed.h5";
    const fs::path single = dir_ / "single.h5";
    const std::string common = example_fasta() + " -m " + local_model() + " --layers all";
    const auto packed_run = run_embed(common + " -o " + packed.string() + " --max-tokens 100000");
    ASSERT_EQ(packed_run.status, 0);
    EXPECT_TRUE(contains(packed_run.output, "in 1 batch of")) << packed_run.output;
    const auto single_run = run_embed(common + " -o " + single.string() + " --max-tokens 1");
    ASSERT_EQ(single_run.status, 0);
    EXPECT_TRUE(contains(single_run.output, "in 5 batches")) << single_run.output;

    const h5::Handle a = h5::open_file(packed.string());
    const h5::Handle b = h5::open_file(single.string());
    for (const std::string group : {"per_residue/", "per_protein/"}) {
        for (const std::string& key : h5::member_names(h5::open_group(a.id(), group).id())) {
            EXPECT_LT(
                max_abs_diff(read_tensor(a.id(), group + key), read_tensor(b.id(), group + key)),
                kBatchingTolerance)
                << group << key;
        }
    }
}

TEST_F(Cli, LayersAreStoredInTheOrderGiven) {
    const auto result = run_embed(example_fasta() + " -o " + out_.string() + " -m " +
                                  local_model() + " --layers -1,0");
    ASSERT_EQ(result.status, 0) << result.output;
    const h5::Handle file = h5::open_file(out_.string());
    EXPECT_EQ(h5::read_int_array_attribute(file.id(), "layers"), (std::vector<int64_t>{2, 0}));
    const torch::Tensor both = read_tensor(file.id(), "per_residue/sp|P01308|INS_HUMAN");
    EXPECT_EQ(both.sizes(), (std::vector<int64_t>{2, 30, 32}));
    EXPECT_EQ(read_tensor(file.id(), "per_protein/sp|P01308|INS_HUMAN").sizes(),
              (std::vector<int64_t>{2, 32}));

    const fs::path last_only = dir_ / "last.h5";
    ASSERT_EQ(
        run_embed(example_fasta() + " -o " + last_only.string() + " -m " + local_model()).status,
        0);
    const h5::Handle last = h5::open_file(last_only.string());
    EXPECT_EQ(max_abs_diff(both[0], read_tensor(last.id(), "per_residue/sp|P01308|INS_HUMAN")),
              0.0);
}

// Starts `embed ARGUMENTS` in the background, sends `signal` once `ready` (a shell test) holds
// or after `delay` seconds, and returns the exit status and output.
testing::CommandResult interrupted_embed(const std::string& arguments, const std::string& ready,
                                         double delay, const char* signal) {
    const std::string script = "sh -c '" + std::string(EMBED_EXECUTABLE) + " " + arguments +
                               " 2>&1 & pid=$!; for i in $(seq 400); do " + ready +
                               " && break; sleep 0.05; done; sleep " + std::to_string(delay) +
                               "; kill -" + signal + " $pid; wait $pid; echo status=$?'";
    FILE* pipe = ::popen(script.c_str(), "r");
    std::string output;
    char buffer[512];
    while (pipe != nullptr && std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
        output += buffer;
    }
    ::pclose(pipe);
    const size_t at = output.rfind("status=");
    const int status = at == std::string::npos ? -1 : std::stoi(output.substr(at + 7));
    return testing::CommandResult{status, output};
}

// Keys and values of two outputs are the same (order included).
void expect_same_output(const fs::path& a, const fs::path& b) {
    const h5::Handle fa = h5::open_file(a.string());
    const h5::Handle fb = h5::open_file(b.string());
    for (const char* group : {"per_residue", "per_protein"}) {
        const auto keys = h5::member_names(h5::open_group(fa.id(), group).id());
        ASSERT_EQ(keys, h5::member_names(h5::open_group(fb.id(), group).id())) << group;
        for (const std::string& key : keys) {
            const std::string name = std::string(group) + "/" + key;
            ASSERT_LT(max_abs_diff(read_tensor(fa.id(), name), read_tensor(fb.id(), name)),
                      kBatchingTolerance)
                << name;
        }
    }
}

TEST_F(Cli, StopSignalsSaveTheWorkAndResumeCompletesIt) {
    write_file(dir_ / "many.fasta", random_proteins(1500, 1));
    const std::string run = (dir_ / "many.fasta").string() + " -o " + out_.string() + " -m " +
                            local_model() + " --flush-every 40 --sort-window 200";
    const fs::path parts = out_.string() + ".parts";
    const auto stopped = interrupted_embed(
        run, "ls " + parts.string() + " 2>/dev/null | grep -q \"h5$\"", 0, "TERM");
    EXPECT_EQ(stopped.status, 143) << stopped.output;
    EXPECT_TRUE(contains(stopped.output, "run the same command with --resume")) << stopped.output;
    EXPECT_FALSE(fs::exists(out_));
    ASSERT_TRUE(fs::exists(parts));

    const auto again = run_embed(run);
    EXPECT_EQ(again.status, kExitBadInput) << "an unfinished run is not silently restarted";
    EXPECT_TRUE(contains(again.output, "add --resume to continue it, or --overwrite"))
        << again.output;

    const auto resumed = run_embed(run + " --resume");
    ASSERT_EQ(resumed.status, 0) << resumed.output;
    EXPECT_TRUE(contains(resumed.output, "proteins were saved by the interrupted run"))
        << resumed.output;
    EXPECT_FALSE(fs::exists(parts)) << "the parts go once merged";

    const fs::path whole = dir_ / "whole.h5";
    ASSERT_EQ(
        run_embed((dir_ / "many.fasta").string() + " -o " + whole.string() + " -m " + local_model())
            .status,
        0);
    expect_same_output(out_, whole);

    const auto complete = run_embed(run + " --resume");
    EXPECT_EQ(complete.status, 0);
    EXPECT_TRUE(contains(complete.output, "is complete: nothing to resume")) << complete.output;
    const auto other = run_embed(run + " --resume --pooling bos");
    EXPECT_EQ(other.status, kExitBadInput);
    EXPECT_TRUE(contains(other.output, "pooling: bos vs mean")) << other.output;
    const auto rounded = run_embed(run + " --resume --dtype bfloat16");
    EXPECT_EQ(rounded.status, kExitBadInput);
    EXPECT_TRUE(contains(rounded.output, "dtype: bfloat16 vs float32")) << rounded.output;
}

TEST_F(Cli, KilledAtRandomMomentsAndResumedEqualsAnUninterruptedRun) {
    write_file(dir_ / "many.fasta", random_proteins(1500, 2));
    const std::string run = (dir_ / "many.fasta").string() + " -o " + out_.string() + " -m " +
                            local_model() +
                            " --flush-every 25 --flush-seconds 0.2 --sort-window 100";
    std::mt19937 random(42);
    std::uniform_real_distribution<double> moment(0.0, 1.5);
    std::string log;
    for (int kill = 0; kill < 4; ++kill) {
        const double delay = moment(random);
        const auto killed =
            interrupted_embed(run + (kill > 0 ? " --resume" : ""), "true", delay, "KILL");
        log += "kill " + std::to_string(kill) + " after " + std::to_string(delay) + " s: status " +
               std::to_string(killed.status) + "\n";
        // Every committed part opens and holds whole proteins.
        if (fs::exists(out_.string() + ".parts")) {
            for (const auto& part : fs::directory_iterator(out_.string() + ".parts")) {
                if (part.path().extension() == ".h5") {
                    EXPECT_NO_THROW(h5::open_file(part.path().string())) << part.path();
                }
            }
        }
    }
    const auto finished = run_embed(run + " --resume");
    ASSERT_EQ(finished.status, 0) << log << finished.output;
    const fs::path whole = dir_ / "whole.h5";
    ASSERT_EQ(
        run_embed((dir_ / "many.fasta").string() + " -o " + whole.string() + " -m " + local_model())
            .status,
        0);
    expect_same_output(out_, whole);
    std::cout << "[ kill -9  ] " << log;
}

TEST_F(Cli, AnExistingOutputIsReplacedOnlyWithOverwrite) {
    write_file(out_, "previous results");
    const std::string run = example_fasta() + " -o " + out_.string() + " -m " + local_model();
    const auto refused = run_embed(run);
    EXPECT_EQ(refused.status, kExitBadInput);
    EXPECT_TRUE(contains(refused.output, "exists: --overwrite replaces it")) << refused.output;
    EXPECT_EQ(read_all(out_), "previous results");
    ASSERT_EQ(run_embed(run + " --overwrite").status, 0);
    EXPECT_EQ(
        h5::member_names(h5::open_group(h5::open_file(out_.string()).id(), "per_protein").id())
            .size(),
        5u);
}

TEST_F(Cli, Float16AndCompressedStorage) {
    const std::string run = example_fasta() + " -m " + local_model();
    ASSERT_EQ(run_embed(run + " -o " + out_.string()).status, 0);
    const fs::path small = dir_ / "small.h5";
    const auto result =
        run_embed(run + " -o " + small.string() + " --storage-dtype float16 --compress 4");
    ASSERT_EQ(result.status, 0) << result.output;
    const h5::Handle full = h5::open_file(out_.string());
    const h5::Handle half = h5::open_file(small.string());
    EXPECT_EQ(h5::read_string_attribute(half.id(), "storage_dtype"), "float16");
    EXPECT_EQ(h5::read_int_attribute(half.id(), "compression"), 4);
    const h5::Handle dataset = h5::open_dataset(half.id(), "per_residue/sp|P42212|GFP_AEQVI");
    const h5::Handle type(H5Dget_type(dataset.id()), H5Tclose, "type");
    EXPECT_EQ(H5Tget_size(type.id()), 2u);
    const h5::Handle properties(H5Dget_create_plist(dataset.id()), H5Pclose, "properties");
    EXPECT_EQ(H5Pget_nfilters(properties.id()), 2) << "shuffle and gzip";
    const torch::Tensor reference = read_tensor(full.id(), "per_residue/sp|P42212|GFP_AEQVI");
    EXPECT_LT(max_abs_diff(read_tensor(half.id(), "per_residue/sp|P42212|GFP_AEQVI"), reference),
              2e-3 * reference.abs().max().item<double>())
        << "float16 keeps about 3 significant digits";
}

TEST_F(Cli, BFloat16ComputeIsRecordedAndFloat16NeedsAGpu) {
    const std::string run = example_fasta() + " -m " + local_model() + " --device cpu";
    const auto half = run_embed(run + " -o " + out_.string() + " --dtype float16");
    EXPECT_EQ(half.status, kExitBadInput);
    EXPECT_TRUE(contains(half.output, "--dtype float16 needs a CUDA device")) << half.output;
    EXPECT_FALSE(fs::exists(out_));

    const auto result = run_embed(run + " -o " + out_.string() + " --dtype bfloat16");
    ASSERT_EQ(result.status, 0) << result.output;
    // A CPU that multiplies bfloat16 slowly is named (the CI machines differ).
    EXPECT_EQ(contains(result.output, "--dtype bfloat16: this CPU has no"),
              !slow_cpu_bfloat16().empty())
        << result.output;
    const h5::Handle file = h5::open_file(out_.string());
    EXPECT_EQ(h5::read_string_attribute(file.id(), "dtype"), "bfloat16");
    const h5::Handle dataset = h5::open_dataset(file.id(), "per_protein/sp|P42212|GFP_AEQVI");
    const h5::Handle type(H5Dget_type(dataset.id()), H5Tclose, "type");
    EXPECT_EQ(H5Tget_size(type.id()), 4u) << "stored as float32 whatever the compute type";
}

TEST_F(Cli, IdenticalSequencesAreEmbeddedOnceAndWrittenForEveryId) {
    write_file(dir_ / "dup.fasta",
               ">a\nMKTAYIAKQR\n>b\nLLVVG\n>c first copy\nMKTAYIAKQR\n>d\nMKTAYIAKQR\n");
    const auto result =
        run_embed((dir_ / "dup.fasta").string() + " -o " + out_.string() + " -m " + local_model());
    ASSERT_EQ(result.status, 0) << result.output;
    EXPECT_TRUE(contains(result.output, "2 proteins repeat an earlier sequence")) << result.output;
    EXPECT_TRUE(contains(result.output, "done: 2 proteins")) << result.output;
    const h5::Handle file = h5::open_file(out_.string());
    EXPECT_EQ(h5::member_names(h5::open_group(file.id(), "per_protein").id()),
              (std::vector<std::string>{"a", "b", "c", "d"}));
    EXPECT_EQ(max_abs_diff(read_tensor(file.id(), "per_residue/a"),
                           read_tensor(file.id(), "per_residue/d")),
              0.0);
    const h5::Handle c = h5::open_dataset(file.id(), "per_residue/c");
    EXPECT_EQ(h5::read_string_attribute(c.id(), "original_id"), "c");
    EXPECT_EQ(h5::read_string_attribute(c.id(), "description"), "first copy");
    EXPECT_EQ(h5::read_int_attribute(c.id(), "index"), 2);
}

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

// A file system too small for the output: the run stops before computing, and says why.
TEST_F(Cli, ARunThatCannotFitStopsBeforeComputing) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root to mount a small tmpfs";
    }
    const fs::path small = dir_ / "small";
    fs::create_directory(small);
    if (std::system(
            ("mount -t tmpfs -o size=256k tmpfs " + small.string() + " 2>/dev/null").c_str()) !=
        0) {
        GTEST_SKIP() << "cannot mount a tmpfs here";
    }
    write_file(dir_ / "many.fasta", random_proteins(300, 5));
    const auto result = run_embed((dir_ / "many.fasta").string() + " -m " + local_model() + " -o " +
                                  (small / "out.h5").string());
    std::system(("umount " + small.string()).c_str());
    EXPECT_NE(result.status, 0);
    EXPECT_TRUE(contains(result.output, "free, but the run needs about")) << result.output;
    EXPECT_FALSE(contains(result.output, "residues/s")) << "stopped before computing";
}

TEST_F(Cli, BioEmbeddingsLayoutKeysDistinctSequencesByMd5) {
    write_file(dir_ / "dup.fasta",
               ">a first\nMKTAYIAKQR\n>\"b\",x\nLLVVGA\n>c\nMKTAYIAKQR\n>d\nMKVL\n");
    const std::string input = (dir_ / "dup.fasta").string() + " -m " + local_model();
    const fs::path bio = dir_ / "bio";
    const auto result = run_embed(input + " -o " + bio.string() + " --layout bio-embeddings");
    ASSERT_EQ(result.status, 0) << result.output;
    ASSERT_EQ(run_embed(input + " -o " + out_.string()).status, 0);

    const std::string a = md5_hex("MKTAYIAKQR");
    const std::string b = md5_hex("LLVVGA");
    const std::string d = md5_hex("MKVL");
    // Both files keep their datasets in name order, as h5py writes them.
    const auto names_at_root = [](hid_t file) {
        return h5::member_names(h5::open_group(file, "/").id());
    };
    std::vector<std::string> keys = {a, b, d};
    std::sort(keys.begin(), keys.end());
    EXPECT_EQ(read_all(bio / "mapping_file.csv"), ",original_id,sequence_length\n" + a + ",a,10\n" +
                                                      b + ",\"\"\"b\"\",x\",6\n" + a + ",c,10\n" +
                                                      d + ",d,4\n");
    const h5::Handle reference = h5::open_file(out_.string());
    const h5::Handle residues = h5::open_file((bio / "embeddings_file.h5").string());
    const h5::Handle reduced = h5::open_file((bio / "reduced_embeddings_file.h5").string());
    for (const hid_t file : {residues.id(), reduced.id()}) {
        EXPECT_EQ(names_at_root(file), keys);
        const h5::Handle dataset = h5::open_dataset(file, a);
        EXPECT_EQ(h5::read_string_attribute(dataset.id(), "original_id"), "a");
    }
    for (const auto& [key, id] : {std::pair{a, "a"}, std::pair{b, "\"b\",x"}}) {
        EXPECT_EQ(max_abs_diff(read_tensor(residues.id(), key),
                               read_tensor(reference.id(), std::string("per_residue/") + id)),
                  0.0);
        EXPECT_EQ(max_abs_diff(read_tensor(reduced.id(), key),
                               read_tensor(reference.id(), std::string("per_protein/") + id)),
                  0.0);
    }

    const auto again = run_embed(input + " -o " + bio.string() + " --layout bio-embeddings");
    EXPECT_EQ(again.status, kExitBadInput);
    const auto replaced = run_embed(input + " -o " + bio.string() +
                                    " --layout bio-embeddings --overwrite --no-per-residue");
    ASSERT_EQ(replaced.status, 0) << replaced.output;
    EXPECT_FALSE(fs::exists(bio / "embeddings_file.h5"));
    EXPECT_TRUE(fs::exists(bio / "reduced_embeddings_file.h5"));
    EXPECT_EQ(std::distance(fs::directory_iterator(dir_.path()), fs::directory_iterator()), 3)
        << "dup.fasta, bio, out.h5 and nothing left over";

    // The shards of an array job, merged into the same layout.
    std::string shards;
    for (int i = 1; i <= 2; ++i) {
        const fs::path shard = dir_ / ("shard_" + std::to_string(i) + ".h5");
        ASSERT_EQ(
            run_embed(input + " -o " + shard.string() + " --shard " + std::to_string(i) + "/2")
                .status,
            0);
        shards += " " + shard.string();
    }
    const fs::path merged = dir_ / "merged";
    const auto merge =
        run_embed("merge" + shards + " -o " + merged.string() + " --layout bio-embeddings");
    ASSERT_EQ(merge.status, 0) << merge.output;
    EXPECT_EQ(read_all(merged / "mapping_file.csv"), read_all(bio / "mapping_file.csv"));
    const h5::Handle merged_residues = h5::open_file((merged / "embeddings_file.h5").string());
    EXPECT_EQ(names_at_root(merged_residues.id()), keys);
}

TEST_F(Cli, StandardInputPipesAndGzipGiveTheSameResult) {
    const fs::path from_file = dir_ / "file.h5";
    const fs::path from_stdin = dir_ / "stdin.h5";
    const fs::path from_gzip = dir_ / "gzip.h5";
    const fs::path from_pipe = dir_ / "pipe.h5";
    const std::string model = " -m " + local_model();
    ASSERT_EQ(run_embed(example_fasta() + " -o " + from_file.string() + model).status, 0);
    ASSERT_EQ(run_embed("- -o " + from_stdin.string() + model + " < " + example_fasta()).status, 0);
    ASSERT_EQ(
        std::system(("gzip -c " + example_fasta() + " > " + (dir_ / "in.fa.gz").string()).c_str()),
        0);
    ASSERT_EQ(run_embed((dir_ / "in.fa.gz").string() + " -o " + from_gzip.string() + model).status,
              0);
    // A named pipe, as bash's <(zcat in.fa.gz) gives: it can be read only once.
    const fs::path pipe = dir_ / "pipe.fasta";
    ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
    ASSERT_EQ(std::system(("cat " + example_fasta() + " > " + pipe.string() + " &").c_str()), 0);
    const auto piped = run_embed(pipe.string() + " -o " + from_pipe.string() + model);
    ASSERT_EQ(piped.status, 0) << piped.output;
    const h5::Handle a = h5::open_file(from_file.string());
    for (const fs::path& other : {from_stdin, from_gzip, from_pipe}) {
        const h5::Handle b = h5::open_file(other.string());
        EXPECT_EQ(max_abs_diff(read_tensor(a.id(), "per_residue/sp|P01542|CRAM_CRAAB"),
                               read_tensor(b.id(), "per_residue/sp|P01542|CRAM_CRAAB")),
                  0.0);
    }
}

TEST_F(CliParity, LowercaseIsUpperCasedAndCounted) {
    write_file(dir_ / "lower.fasta", ">melittin\ngigavlkvlttglpalISWIKRKRQQ\n");
    const auto result =
        run_embed((dir_ / "lower.fasta").string() + " -o " + out_.string() + " -m " + esm2_pt());
    ASSERT_EQ(result.status, 0) << result.output;
    EXPECT_TRUE(contains(result.output, "16 lower-case residues")) << result.output;
    const h5::Handle file = h5::open_file(out_.string());
    const h5::Handle reference = h5::open_file(testdata("expected.h5").string());
    EXPECT_LT(max_abs_diff(read_tensor(file.id(), "per_residue/melittin"),
                           read_tensor(reference.id(), "esm2_tiny/melittin/layer_2")),
              kParityTolerance);
}

TEST_F(Cli, LongProteinsAreChunkedTruncatedSkippedOrRejected) {
    const auto truncated = run_embed(example_fasta() + " -o " + out_.string() + " -m " +
                                     local_model() + " --max-length 40 --long truncate");
    ASSERT_EQ(truncated.status, 0) << truncated.output;
    EXPECT_TRUE(contains(truncated.output,
                         "record 'sp|P42212|GFP_AEQVI': 100 residues, truncated to the first 40"))
        << truncated.output;
    const h5::Handle file = h5::open_file(out_.string());
    EXPECT_EQ(read_tensor(file.id(), "per_residue/sp|P42212|GFP_AEQVI").size(0), 40);
    const h5::Handle gfp = h5::open_dataset(file.id(), "per_residue/sp|P42212|GFP_AEQVI");
    EXPECT_EQ(h5::read_int_attribute(gfp.id(), "length"), 40);
    EXPECT_EQ(h5::read_int_attribute(gfp.id(), "original_length"), 100);
    EXPECT_EQ(read_tensor(file.id(), "per_residue/sp|P01501|MEL_APIME").size(0), 26);

    // The default: every residue, from overlapping windows; short proteins as they were.
    const fs::path chunked_out = dir_ / "chunked.h5";
    const auto chunked = run_embed(example_fasta() + " -o " + chunked_out.string() + " -m " +
                                   local_model() + " --max-length 40");
    ASSERT_EQ(chunked.status, 0) << chunked.output;
    EXPECT_TRUE(contains(chunked.output, "100 residues, embedded in 4 overlapping windows of 40"))
        << chunked.output;
    const h5::Handle whole = h5::open_file(chunked_out.string());
    EXPECT_EQ(read_tensor(whole.id(), "per_residue/sp|P42212|GFP_AEQVI").size(0), 100);
    EXPECT_LT(max_abs_diff(read_tensor(whole.id(), "per_residue/sp|P01501|MEL_APIME"),
                           read_tensor(file.id(), "per_residue/sp|P01501|MEL_APIME")),
              kBatchingTolerance)
        << "a protein within the limit is embedded as it was";

    const fs::path skipped_out = dir_ / "skipped.h5";
    const auto skipped = run_embed(example_fasta() + " -o " + skipped_out.string() + " -m " +
                                   local_model() + " --max-length 40 --long skip");
    ASSERT_EQ(skipped.status, 0) << skipped.output;
    EXPECT_EQ(h5::member_names(
                  h5::open_group(h5::open_file(skipped_out.string()).id(), "per_residue").id()),
              (std::vector<std::string>{"sp|P01308|INS_HUMAN", "sp|P01501|MEL_APIME"}));

    const fs::path rejected_out = dir_ / "rejected.h5";
    const auto rejected = run_embed(example_fasta() + " -o " + rejected_out.string() + " -m " +
                                    local_model() + " --max-length 40 --long error");
    EXPECT_EQ(rejected.status, kExitBadInput);
    EXPECT_TRUE(contains(rejected.output,
                         ":1: record 'sp|P0CG48|UBC_HUMAN': 76 residues is longer than "
                         "--max-length 40"))
        << rejected.output;
    EXPECT_FALSE(fs::exists(rejected_out));
}

TEST_F(CliParity, ContactsNeedTheRegressionWeights) {
    const auto result = run_embed(fixture_fasta() + " -o " + out_.string() + " -m " + esm2_pt() +
                                  " --contacts --no-per-residue");
    ASSERT_EQ(result.status, 0) << result.output;
    const h5::Handle file = h5::open_file(out_.string());
    const h5::Handle reference = h5::open_file(testdata("expected.h5").string());
    const auto keys = h5::member_names(h5::open_group(file.id(), "contacts").id());
    ASSERT_EQ(keys.size(), 5u);
    EXPECT_EQ(keys.front(), "sp|P0CG48|UBC_HUMAN");
    const torch::Tensor crambin = read_tensor(file.id(), "contacts/crambin");
    EXPECT_EQ(crambin.sizes(), (std::vector<int64_t>{46, 46}));
    EXPECT_LT(max_abs_diff(crambin, read_tensor(reference.id(), "esm2_tiny/crambin/contacts")),
              kParityTolerance);
    const h5::Handle dataset = h5::open_dataset(file.id(), "contacts/crambin");
    EXPECT_EQ(h5::read_int_attribute(dataset.id(), "length"), 46);

    // Contacts alone: no embeddings groups at all.
    const fs::path only = dir_ / "contacts_only.h5";
    const auto contacts_only =
        run_embed(fixture_fasta() + " -o " + only.string() + " -m " + esm2_pt() +
                  " --contacts --no-per-residue --no-per-protein");
    ASSERT_EQ(contacts_only.status, 0) << contacts_only.output;
    const h5::Handle only_file = h5::open_file(only.string());
    EXPECT_EQ(h5::member_names(h5::open_group(only_file.id(), "/").id()),
              (std::vector<std::string>{"contacts"}));

    // The .pt alone, without its sibling NAME-contact-regression.pt.
    fs::copy_file(esm2_pt(), dir_ / "esm2_tiny.pt");
    const auto missing = run_embed(fixture_fasta() + " -o " + (dir_ / "none.h5").string() + " -m " +
                                   (dir_ / "esm2_tiny.pt").string() + " --contacts");
    EXPECT_EQ(missing.status, kExitBadInput);
    EXPECT_TRUE(contains(missing.output, "esm2_tiny.pt has no contact regression weights"))
        << missing.output;
    EXPECT_FALSE(fs::exists(dir_ / "none.h5"));
    const auto seqvec = run_embed(fixture_fasta() + " -o " + (dir_ / "none.h5").string() + " -m " +
                                  testdata("seqvec_tiny").string() + " --contacts");
    EXPECT_EQ(seqvec.status, kExitBadInput);
    EXPECT_TRUE(contains(seqvec.output, "SeqVec predicts no contacts")) << seqvec.output;
}

// bfloat16 is no faster and rounder for SeqVec on the CPU: embed says so, and runs as asked; ESM
// models are not warned about.
TEST_F(CliParity, SeqVecInBFloat16OnTheCpuIsWarnedAbout) {
    const std::string warning = "SeqVec on the CPU runs no faster in bfloat16";
    const auto seqvec = run_embed(fixture_fasta() + " -o " + out_.string() + " -m " +
                                  testdata("seqvec_tiny").string() + " --dtype bfloat16");
    ASSERT_EQ(seqvec.status, 0) << seqvec.output;
    EXPECT_TRUE(contains(seqvec.output, warning)) << seqvec.output;
    EXPECT_TRUE(contains(seqvec.output, "device cpu, bfloat16")) << seqvec.output;
    const auto esm = run_embed(fixture_fasta() + " -o " + (dir_ / "esm.h5").string() + " -m " +
                               esm2_pt() + " --dtype bfloat16");
    ASSERT_EQ(esm.status, 0) << esm.output;
    EXPECT_FALSE(contains(esm.output, warning)) << esm.output;
}

TEST_F(CliParity, SeqVecDefaultsToTheSumOfItsLayersAndItsMean) {
    const auto result = run_embed(testdata("seqvec_tiny/input.fasta").string() + " -o " +
                                  out_.string() + " -m " + testdata("seqvec_tiny").string());
    ASSERT_EQ(result.status, 0) << result.output;
    const h5::Handle file = h5::open_file(out_.string());
    const h5::Handle reference = h5::open_file(testdata("expected.h5").string());
    EXPECT_EQ(h5::read_string_attribute(file.id(), "model_family"), "SeqVec");
    EXPECT_EQ(h5::read_int_array_attribute(file.id(), "layers"), (std::vector<int64_t>{0, 1, 2}));
    EXPECT_EQ(h5::read_string_attribute(file.id(), "layer_reduction"), "sum");
    EXPECT_EQ(h5::read_int_attribute(file.id(), "max_length"), 0) << "SeqVec truncates nothing";
    EXPECT_TRUE(contains(result.output, "in 1 batch of at most 32768 tokens")) << result.output;
    EXPECT_LT(max_abs_diff(read_tensor(file.id(), "per_residue/GFP_N"),
                           read_tensor(reference.id(), "seqvec_tiny/GFP_N/per_residue_sum")),
              kParityTolerance);
    EXPECT_LT(max_abs_diff(read_tensor(file.id(), "per_protein/GFP_N"),
                           read_tensor(reference.id(), "seqvec_tiny/GFP_N/per_protein")),
              kParityTolerance);

    const fs::path all = dir_ / "all.h5";
    ASSERT_EQ(run_embed(testdata("seqvec_tiny/input.fasta").string() + " -o " + all.string() +
                        " -m " + testdata("seqvec_tiny").string() + " --layers all")
                  .status,
              0);
    const h5::Handle layers = h5::open_file(all.string());
    EXPECT_EQ(h5::read_string_attribute(layers.id(), "layer_reduction"), "none");
    EXPECT_LT(max_abs_diff(read_tensor(layers.id(), "per_residue/GFP_N"),
                           read_tensor(reference.id(), "seqvec_tiny/GFP_N/layers")),
              kParityTolerance);

    const auto bos = run_embed(testdata("seqvec_tiny/input.fasta").string() + " -o " +
                               (dir_ / "bos.h5").string() + " -m " +
                               testdata("seqvec_tiny").string() + " --pooling bos");
    EXPECT_EQ(bos.status, kExitBadInput);
    EXPECT_TRUE(contains(bos.output, "SeqVec has no BOS token")) << bos.output;
}

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

TEST_F(Cli, ModelsByNameFromAModelDirectory) {
    // A site's model directory holding a Hugging Face copy under the released name.
    const fs::path site = dir_ / "site-models";
    fs::create_directories(site / "esm2_t6_8M_UR50D");
    for (const auto& entry : fs::directory_iterator(local_model())) {
        fs::copy_file(entry.path(), site / "esm2_t6_8M_UR50D" / entry.path().filename());
    }
    const std::string environment = "EMBED_CACHE_DIR=" + (dir_ / "cache").string() +
                                    " TORCH_HOME=" + (dir_ / "torch").string() +
                                    " HF_HOME=" + (dir_ / "hf").string() + " ";
    const auto listed =
        testing::run_embed_with_environment(environment, "models --model-dir " + site.string());
    ASSERT_EQ(listed.status, 0) << listed.output;
    EXPECT_TRUE(contains(listed.output, "esm2_t6_8M_UR50D"));
    EXPECT_TRUE(contains(listed.output, (site / "esm2_t6_8M_UR50D").string())) << listed.output;
    EXPECT_TRUE(contains(listed.output, "seqvec")) << listed.output;

    const auto result = testing::run_embed_with_environment(
        environment, example_fasta() + " -o " + out_.string() +
                         " -m esm2_t6_8M_UR50D --offline --model-dir " + site.string());
    ASSERT_EQ(result.status, 0) << result.output;
    // The copy is the tiny test model, not the released one: said, not fatal.
    EXPECT_TRUE(contains(result.output,
                         "is named like the released esm2_t6_8M_UR50D but has 2 "
                         "layers of width 32"))
        << result.output;

    const auto absent = testing::run_embed_with_environment(
        environment, example_fasta() + " -o " + (dir_ / "absent.h5").string() +
                         " -m esm2_t12_35M_UR50D --offline");
    EXPECT_EQ(absent.status, 1);
    EXPECT_TRUE(contains(absent.output, "embed download esm2_t12_35M_UR50D")) << absent.output;
    EXPECT_TRUE(contains(absent.output,
                         "https://dl.fbaipublicfiles.com/fair-esm/models/esm2_t12_35M_UR50D.pt"))
        << absent.output;
}

TEST(CliWithoutFixtures, HelpAndVersion) {
    const auto help = run_embed("--help");
    EXPECT_EQ(help.status, 0);
    EXPECT_TRUE(contains(help.output, "--max-tokens"));
    const auto version = run_embed("--version");
    EXPECT_EQ(version.status, 0);
    EXPECT_TRUE(contains(version.output, EMBED_VERSION));
}

// libgomp prints the settings it read at start-up when OMP_DISPLAY_ENV is set; a spin count of
// 0 is what PASSIVE does (with no policy at all it prints PASSIVE too, but spins 300,000 times).
// A setenv() from .preinit_array came too late for libgomp: hence the restart.
TEST(CliWithoutFixtures, OpenMpThreadsSleepWhenIdleUnlessTheUserSaysOtherwise) {
    const auto ours = testing::run_embed_with_environment(
        "env -u OMP_WAIT_POLICY OMP_DISPLAY_ENV=verbose", "--version");
    EXPECT_EQ(ours.status, 0);
    EXPECT_TRUE(contains(ours.output, "GOMP_SPINCOUNT = '0'")) << ours.output;
    const auto users = testing::run_embed_with_environment(
        "OMP_WAIT_POLICY=ACTIVE OMP_DISPLAY_ENV=verbose", "--version");
    EXPECT_TRUE(contains(users.output, "OMP_WAIT_POLICY = 'ACTIVE'")) << users.output;
}

// OPENBLAS_CORETYPE=Haswell on a CPU with AVX-512 halves the float32 products' speed: embed says
// so (where the CPU has AVX-512), and says nothing when OpenBLAS chooses its kernels itself.
TEST_F(Cli, SaysWhenOpenBlasIsHeldToAvx2Kernels) {
    const std::string input = example_fasta() + " -m " + local_model() + " -o ";
    const auto forced = testing::run_embed_with_environment("OPENBLAS_CORETYPE=Haswell",
                                                            input + (dir_ / "forced.h5").string());
    ASSERT_EQ(forced.status, 0) << forced.output;
    const bool avx512 = cpu_has_avx512();
    const bool openblas = contains(forced.output, "DYNAMIC_ARCH");  // reads OPENBLAS_CORETYPE
    EXPECT_EQ(contains(forced.output,
                       "OPENBLAS_CORETYPE=Haswell holds OpenBLAS to its Haswell "
                       "kernels"),
              avx512 && openblas)
        << forced.output;
    const auto chosen = testing::run_embed_with_environment("env -u OPENBLAS_CORETYPE",
                                                            input + (dir_ / "chosen.h5").string());
    ASSERT_EQ(chosen.status, 0) << chosen.output;
    EXPECT_FALSE(contains(chosen.output, "OPENBLAS_CORETYPE")) << chosen.output;
}

}  // namespace
}  // namespace embed
