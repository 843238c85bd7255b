// End to end, interrupted runs: stopped by a signal or killed at random moments and resumed, an
// existing output replaced only when asked, a run that cannot fit stopped before it computes.
#include <cstdio>
#include <random>
#include <unistd.h>

#include "base/hdf5.h"

#include "cli_test.h"

namespace embed {
namespace {

namespace fs = std::filesystem;
using testing::Cli;
using testing::contains;
using testing::example_fasta;
using testing::expect_same_output;
using testing::kExitBadInput;
using testing::local_model;
using testing::random_proteins;
using testing::read_all;
using testing::run_embed;
using testing::write_file;

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

}  // namespace
}  // namespace embed
