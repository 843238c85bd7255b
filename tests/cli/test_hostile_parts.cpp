// End-to-end, hostile: runs of `embed` on one output that overlap, die or are stopped at the
// worst moments (during the final merge, between the renames of an --overwrite), and what they
// leave behind. Moments are opened with strace, which delays one system call on one path.
#include <fstream>
#include <random>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/hdf5.h"
#include "output/output_parts.h"

#include "test_support.h"

namespace embed {
namespace {

namespace fs = std::filesystem;
using testing::contains;
using testing::example_fasta;
using testing::kExitBadInput;
using testing::local_model;
using testing::random_proteins;
using testing::read_all;
using testing::run_embed;
using testing::TempDir;
using testing::write_file;

constexpr int kStoppedBySigterm = 128 + 15;
// How long strace holds the system call that opens a moment: ample for the test's shell to act.
constexpr const char* kHoldMicroseconds = "4000000";

std::string embed_executable() {
    return EMBED_EXECUTABLE;
}

// The value printed by the script as "NAME=value" (the last one), or "".
std::string printed(const std::string& output, const std::string& name) {
    const size_t at = output.rfind(name + "=");
    if (at == std::string::npos) {
        return "";
    }
    const size_t start = at + name.size() + 1;
    return output.substr(start, output.find('\n', start) - start);
}

// Hidden files beside `output` named .OUTPUT.partial-*.
std::vector<std::string> merge_temporaries(const fs::path& output) {
    std::vector<std::string> found;
    const std::string prefix = "." + output.filename().string() + ".partial-";
    for (const auto& entry : fs::directory_iterator(output.parent_path())) {
        const std::string name = entry.path().filename().string();
        if (name.rfind(prefix, 0) == 0) {
            found.push_back(name);
        }
    }
    return found;
}

size_t proteins_in(const fs::path& output) {
    const h5::Handle file = h5::open_file(output.string());
    return h5::member_names(h5::open_group(file.id(), "per_protein").id()).size();
}

std::string host_name() {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    return name;
}

class HostileParts : public ::testing::Test {
protected:
    void SetUp() override { h5::silence_library_errors(); }

    // Runs `script` with sh; its stdout and stderr together.
    testing::CommandResult shell(const std::string& script) {
        const fs::path file = dir_ / "script.sh";
        write_file(file, "EMBED=" + embed_executable() + "\n" + script);
        FILE* pipe = ::popen(("sh " + file.string() + " 2>&1").c_str(), "r");
        std::string output;
        char buffer[512];
        while (pipe != nullptr && std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
            output += buffer;
        }
        const int status = pipe == nullptr ? -1 : ::pclose(pipe);
        return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
    }

    // Script lines that start `embed arguments` in the background under strace, which holds
    // the first of `syscalls` on `path` for kHoldMicroseconds, before (enter) or after (exit)
    // the call takes effect. $run is then embed's PID (for kill), $tracer strace's (for wait:
    // strace ends as embed ends).
    std::string traced_embed(const std::string& syscalls, const fs::path& path,
                             const std::string& when, const std::string& arguments) const {
        const fs::path pid_file = dir_ / "embed.pid";
        return "strace -f -o /dev/null " + std::string(testing::kStraceSanitizerOptions) + " -P " +
               path.string() + " -e trace=" + syscalls + " -e inject=" + syscalls + ":delay_" +
               when + "=" + kHoldMicroseconds + ":when=1 sh -c 'echo $$ > " + pid_file.string() +
               "; exec \"$0\" \"$@\"' $EMBED " + arguments + " & tracer=$!\n" +
               "for i in $(seq 200); do [ -s " + pid_file.string() +
               " ] && break; sleep 0.05; done\nrun=$(cat " + pid_file.string() + ")\n";
    }

    static bool can_trace() {
        return std::system("strace -f -o /dev/null true >/dev/null 2>&1") == 0;
    }

    TempDir dir_;
    fs::path out_ = dir_ / "out.h5";
    fs::path parts_ = out_.string() + ".parts";
};

#define REQUIRE_STRACE()                                                            \
    do {                                                                            \
        if (!can_trace()) {                                                         \
            GTEST_SKIP() << "needs strace, and ptrace allowed, to open the moment"; \
        }                                                                           \
    } while (false)

// Item 5: a second run on an output a live run writes (here a --resume, which used to delete
// the live run's part in progress) is refused at once, naming the live run.
TEST_F(HostileParts, ASecondRunOnALiveRunsOutputIsRefusedNamingItsPidAndHost) {
    write_file(dir_ / "many.fasta", random_proteins(3000, 5));
    const std::string run = (dir_ / "many.fasta").string() + " -o " + out_.string() + " -m " +
                            local_model() + " --flush-every 20 --sort-window 100";
    const auto result =
        shell("$EMBED " + run + " > " + (dir_ / "first.log").string() + " 2>&1 & first=$!\n" +
              "for i in $(seq 600); do ls " + parts_.string() +
              " 2>/dev/null | grep -q 'h5$' && break; sleep 0.05; done\n" + "$EMBED " + run +
              " --resume; echo second=$?\n" + "kill -0 $first 2>/dev/null && echo alive=yes\n" +
              "wait $first; echo first=$?; echo pid=$first\n");
    EXPECT_EQ(printed(result.output, "second"), std::to_string(kExitBadInput)) << result.output;
    const std::string pid = printed(result.output, "pid");
    EXPECT_TRUE(contains(
        result.output, "is being written by another run (PID and host: " + pid + " " + host_name()))
        << result.output;
    EXPECT_EQ(printed(result.output, "alive"), "yes")
        << "the first run ended before the second one did: either no overlap was tested or the "
           "second run waited for the first";
    EXPECT_EQ(printed(result.output, "first"), "0")
        << result.output << read_all(dir_ / "first.log");
    EXPECT_EQ(proteins_in(out_), 3000u);
    EXPECT_FALSE(fs::exists(parts_));
    EXPECT_FALSE(fs::exists(dir_ / ".out.h5.lock")) << "the lock file goes with its run";
}

// Item 5, in one process: the lock belongs to the open file (OFD lock), so a second lock on
// the same output is refused even here; the lock file goes with the first.
TEST(OutputLock, ASecondLockOnTheSameOutputIsRefusedAndTheLockFileGoesWithTheFirst) {
    const TempDir dir;
    const fs::path out = dir / "out.h5";
    {
        const OutputLock first(out);
        EXPECT_TRUE(first.held());
        EXPECT_EQ(read_all(dir / ".out.h5.lock"),
                  std::to_string(::getpid()) + " " + host_name() + "\n");
        const std::string refused = testing::error_of([&] { const OutputLock second(out); });
        EXPECT_TRUE(contains(refused, out.string() +
                                          " is being written by another run (PID and "
                                          "host: " +
                                          std::to_string(::getpid()) + " " + host_name()))
            << refused;
    }
    EXPECT_FALSE(fs::exists(dir / ".out.h5.lock"));
    EXPECT_NO_THROW(const OutputLock again(out));
}

// Item 5: the final merge checks every part's settings, as --resume does: a part of another
// run that appears in OUTPUT.parts during the run (where locks do not reach) is refused.
TEST_F(HostileParts, TheFinalMergeChecksEveryPartsSettings) {
    REQUIRE_STRACE();
    const fs::path other = dir_ / "other.h5";
    ASSERT_EQ(run_embed(example_fasta() + " -o " + other.string() + " -m " + local_model() +
                        " --pooling bos")
                  .status,
              0);
    // Held just after the run's only part is renamed into place, before the merge lists them
    // (strace 6.1 matches the rename(2) of -P by its first path).
    const auto result =
        shell(traced_embed("rename,renameat,renameat2", parts_ / "part-000001.h5.tmp", "exit",
                           example_fasta() + " -o " + out_.string() + " -m " + local_model()) +
              "for i in $(seq 200); do [ -e " + (parts_ / "part-000001.h5").string() +
              " ] && break; sleep 0.05; done\n" + "cp " + other.string() + " " +
              (parts_ / "part-000002.h5").string() + "\nwait $tracer; echo status=$?\n");
    EXPECT_EQ(printed(result.output, "status"), std::to_string(kExitBadInput)) << result.output;
    EXPECT_TRUE(contains(result.output, "part-000002.h5 was written with other settings"))
        << result.output;
    EXPECT_TRUE(contains(result.output, "pooling: mean vs bos")) << result.output;
    EXPECT_FALSE(fs::exists(out_));
}

// Item 6: replacing a bio-embeddings directory leaves the old or the new one at the output
// path at every moment: killed just after the (first) rename, one is there. The next run
// removes what the killed one left beside it (item 7).
TEST_F(HostileParts, OverwritingABioEmbeddingsDirectoryLeavesOneInPlaceAtEveryMoment) {
    REQUIRE_STRACE();
    const fs::path out = dir_ / "bio";
    const std::string run = example_fasta() + " -o " + out.string() + " -m " + local_model() +
                            " --layout bio-embeddings";
    ASSERT_EQ(run_embed(run).status, 0);
    write_file(out / "old-marker", "the previous output");
    const auto result = shell(
        traced_embed("rename,renameat,renameat2", out, "exit", run + " --overwrite") +
        "for i in $(seq 200); do [ -e " + (out / "old-marker").string() +
        " ] || break; sleep 0.05; done\n" + "kill -KILL $run; wait $tracer; echo status=$?\n");
    ASSERT_EQ(printed(result.output, "status"), "137") << result.output;
    ASSERT_TRUE(fs::is_directory(out)) << "nothing at the output path after a kill\n"
                                       << result.output;
    EXPECT_TRUE(fs::exists(out / "mapping_file.csv") || fs::exists(out / "old-marker"))
        << "neither the new output nor the old one";
    EXPECT_FALSE(merge_temporaries(out).empty()) << "the killed run left its temporary";

    const auto again = run_embed(run + " --overwrite");
    ASSERT_EQ(again.status, 0) << again.output;
    EXPECT_TRUE(merge_temporaries(out).empty())
        << "the next run removes what the killed one left: " << merge_temporaries(out).front();
    EXPECT_TRUE(fs::exists(out / "embeddings_file.h5"));
    EXPECT_FALSE(fs::exists(out / "old-marker"));
}

// Item 7: the temporaries of dead runs' merges go; those named with a live PID stay (another
// process of that PID on this host, perhaps an `embed merge`, may be writing them).
TEST_F(HostileParts, ARunRemovesWhatDeadRunsLeftBesideTheOutputAndKeepsLiveOnes) {
    const pid_t dead = ::fork();
    if (dead == 0) {
        ::_exit(0);
    }
    ASSERT_GT(dead, 0);
    ::waitpid(dead, nullptr, 0);
    const std::string live = std::to_string(::getpid());
    const fs::path dead_file = dir_ / (".out.h5.partial-" + std::to_string(dead));
    const fs::path dead_directory =
        dir_ / (".out.h5.partial-" + std::to_string(dead) + ".replaced");
    const fs::path dead_input = dir_ / (".out.h5.input-" + std::to_string(dead) + ".fasta");
    const fs::path live_file = dir_ / (".out.h5.partial-" + live);
    const fs::path unrelated = dir_ / ".other.h5.partial-1";
    write_file(dead_file, std::string(100000, 'x'));
    fs::create_directories(dead_directory);
    write_file(dead_directory / "embeddings_file.h5", "old");
    write_file(dead_input, ">kept\nMKV\n");
    write_file(live_file, "being written");
    write_file(unrelated, "another output's");
    write_file(dir_ / ".out.h5.lock", std::to_string(dead) + " " + host_name() + "\n");

    const auto result =
        run_embed(example_fasta() + " -o " + out_.string() + " -m " + local_model());
    ASSERT_EQ(result.status, 0) << result.output;
    EXPECT_FALSE(fs::exists(dead_file)) << result.output;
    EXPECT_FALSE(fs::exists(dead_directory)) << result.output;
    EXPECT_FALSE(fs::exists(dead_input)) << result.output;
    EXPECT_TRUE(contains(
        result.output, "left by an earlier run (process " + std::to_string(dead) + ") that ended"))
        << result.output;
    EXPECT_TRUE(fs::exists(live_file));
    EXPECT_TRUE(fs::exists(unrelated));
    EXPECT_FALSE(fs::exists(dir_ / ".out.h5.lock")) << "a dead run's lock file is taken over";
    EXPECT_EQ(proteins_in(out_), 5u);
}

// Item 7: a refused --resume leaves no OUTPUT.parts behind, and an empty one (as such runs
// left) is no "work of an unfinished run".
TEST_F(HostileParts, ARefusedRunLeavesNoPartsAndAnEmptyPartsDirectoryIsNoUnfinishedRun) {
    const std::string run = example_fasta() + " -o " + out_.string() + " -m " + local_model();
    ASSERT_EQ(run_embed(run).status, 0);
    const auto refused = run_embed(run + " --resume --pooling bos");
    EXPECT_EQ(refused.status, kExitBadInput) << refused.output;
    EXPECT_FALSE(fs::exists(parts_)) << "the refused run left " << parts_;

    const fs::path second = dir_ / "second.h5";
    fs::create_directories(second.string() + ".parts");
    const auto after =
        run_embed(example_fasta() + " -o " + second.string() + " -m " + local_model());
    EXPECT_EQ(after.status, 0) << after.output;
    EXPECT_FALSE(fs::exists(second.string() + ".parts"));
}

// Item 7: a failed space check leaves no OUTPUT.parts behind (a 1 MB tmpfs; needs root).
TEST_F(HostileParts, AFailedSpaceCheckLeavesNoPartsDirectory) {
    const fs::path small = dir_ / "small";
    fs::create_directories(small);
    if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=1m") != 0) {
        GTEST_SKIP() << "needs root to mount a small tmpfs";
    }
    write_file(dir_ / "many.fasta", random_proteins(2000, 7));
    const fs::path out = small / "out.h5";
    const auto result =
        run_embed((dir_ / "many.fasta").string() + " -o " + out.string() + " -m " + local_model());
    std::vector<std::string> left;
    for (const auto& entry : fs::directory_iterator(small)) {
        left.push_back(entry.path().filename().string());
    }
    ::umount(small.c_str());
    EXPECT_NE(result.status, 0) << result.output;
    EXPECT_TRUE(left.empty()) << "left behind: " << left.front();
}

// Item 12: SIGTERM during the final merge saves the work, says so and how to continue; the
// merge's temporary goes, the parts stay, and --resume completes.
TEST_F(HostileParts, AStopDuringTheFinalMergeSavesTheWorkAndSaysHowToContinue) {
    REQUIRE_STRACE();
    const std::string run = example_fasta() + " -o " + out_.string() + " -m " + local_model();
    // Held when the merge opens the run's only part: the merge's temporary exists by then.
    const auto result = shell(traced_embed("open,openat", parts_ / "part-000001.h5", "enter", run) +
                              "for i in $(seq 200); do ls -a " + dir_.path().string() +
                              " | grep -q partial && break; sleep 0.05; done\n" +
                              "kill -TERM $run; wait $tracer; echo status=$?\n");
    EXPECT_EQ(printed(result.output, "status"), std::to_string(kStoppedBySigterm)) << result.output;
    EXPECT_TRUE(contains(result.output,
                         "stopped by signal 15 during the final merge; the work "
                         "is saved in " +
                             parts_.string()))
        << result.output;
    EXPECT_TRUE(contains(result.output, "run the same command with --resume: ")) << result.output;
    EXPECT_FALSE(fs::exists(out_));
    EXPECT_TRUE(merge_temporaries(out_).empty());
    EXPECT_TRUE(fs::exists(parts_ / "part-000001.h5"));

    const auto resumed = run_embed(run + " --resume");
    ASSERT_EQ(resumed.status, 0) << resumed.output;
    EXPECT_EQ(proteins_in(out_), 5u);
    EXPECT_FALSE(fs::exists(parts_));
}

// Item 12 for `embed merge`: SIGTERM while it copies ends it with 143 and a message, and the
// unfinished output, a directory too (which a signal handler cannot remove), goes.
TEST_F(HostileParts, AStoppedMergeOfShardsSaysSoAndLeavesNothing) {
    REQUIRE_STRACE();
    const std::string input = example_fasta() + " -m " + local_model();
    for (const char* shard : {"1", "2"}) {
        ASSERT_EQ(run_embed(input + " --shard " + shard + "/2 -o " +
                            (dir_ / ("shard" + std::string(shard) + ".h5")).string())
                      .status,
                  0);
    }
    for (const std::string layout : {"embed", "bio-embeddings"}) {
        const fs::path out = dir_ / ("merged-" + layout);
        const fs::path pid_file = dir_ / "merge.pid";
        fs::remove(pid_file);
        // Held as the merge claims the disk space of its output, which then exists.
        const auto result = shell(
            "strace -f -o /dev/null " + std::string(testing::kStraceSanitizerOptions) +
            " -e trace=fallocate -e inject=fallocate:delay_exit=" + std::string(kHoldMicroseconds) +
            ":when=1 sh -c 'echo $$ > " + pid_file.string() +
            "; exec \"$0\" \"$@\"' $EMBED merge " + (dir_ / "shard1.h5").string() + " " +
            (dir_ / "shard2.h5").string() + " --layout " + layout + " -o " + out.string() +
            " & tracer=$!\nfor i in $(seq 200); do ls -a " + dir_.path().string() +
            " | grep -q 'merged-.*partial' && break; sleep 0.05; done\n" + "kill -TERM $(cat " +
            pid_file.string() + "); wait $tracer; echo status=$?\n");
        EXPECT_EQ(printed(result.output, "status"), std::to_string(kStoppedBySigterm))
            << layout << "\n"
            << result.output;
        EXPECT_TRUE(contains(result.output, "stopped by signal 15 while merging into " +
                                                out.string() + "; nothing was written there"))
            << layout << "\n"
            << result.output;
        EXPECT_FALSE(fs::exists(out)) << layout;
        EXPECT_TRUE(merge_temporaries(out).empty()) << layout;
    }
}

// Item 7: kill -9 during the final merge leaves the merge's temporary (up to the output's
// size); the --resume that follows removes it.
TEST_F(HostileParts, AResumeRemovesTheTemporaryOfAMergeKilledMidway) {
    REQUIRE_STRACE();
    const std::string run = example_fasta() + " -o " + out_.string() + " -m " + local_model();
    const auto result = shell(traced_embed("open,openat", parts_ / "part-000001.h5", "enter", run) +
                              "for i in $(seq 200); do ls -a " + dir_.path().string() +
                              " | grep -q partial && break; sleep 0.05; done\n" +
                              "kill -KILL $run; wait $tracer; echo status=$?\n");
    ASSERT_EQ(printed(result.output, "status"), "137") << result.output;
    ASSERT_FALSE(merge_temporaries(out_).empty()) << "killed before the merge began";

    const auto resumed = run_embed(run + " --resume");
    ASSERT_EQ(resumed.status, 0) << resumed.output;
    EXPECT_TRUE(merge_temporaries(out_).empty()) << merge_temporaries(out_).front() << " left\n"
                                                 << resumed.output;
    EXPECT_EQ(proteins_in(out_), 5u);
}

// Item 12: a stopped --overwrite run gives the command that continues it, with --resume in
// place of --overwrite (the same command again would start over), and that command works.
TEST_F(HostileParts, AStoppedOverwriteRunGivesTheCommandThatContinuesIt) {
    write_file(dir_ / "many.fasta", random_proteins(1500, 3));
    write_file(out_, "an earlier output");
    const std::string run = (dir_ / "many.fasta").string() + " -o " + out_.string() + " -m " +
                            local_model() + " --flush-every 40 --sort-window 200";
    const auto stopped =
        shell("$EMBED " + run + " --overwrite & run=$!\n" + "for i in $(seq 600); do ls " +
              parts_.string() + " 2>/dev/null | grep -q 'h5$' && break; sleep 0.05; done\n" +
              "kill -TERM $run; wait $run; echo status=$?\n");
    ASSERT_EQ(printed(stopped.output, "status"), std::to_string(kStoppedBySigterm))
        << stopped.output;
    const std::string hint = "run the same command with --resume: ";
    const size_t at = stopped.output.find(hint);
    ASSERT_NE(at, std::string::npos) << stopped.output;
    const size_t start = at + hint.size();
    const std::string command =
        stopped.output.substr(start, stopped.output.find('\n', start) - start);
    EXPECT_FALSE(contains(command, "--overwrite")) << command;
    EXPECT_TRUE(contains(command, " --resume")) << command;
    EXPECT_EQ(read_all(out_), "an earlier output") << "replaced only when complete";

    const auto resumed = shell(command + "; echo status=$?\n");
    EXPECT_EQ(printed(resumed.output, "status"), "0") << resumed.output;
    EXPECT_TRUE(contains(resumed.output, "proteins were saved by the interrupted run"))
        << resumed.output;
    EXPECT_EQ(proteins_in(out_), 1500u);
}

// Item 12: after a stop, the proteins of the batch in flight make one part (or two), not one
// fsynced part each.
TEST_F(HostileParts, AStopCommitsTheBatchInFlightAsOnePartNotOnePerProtein) {
    write_file(dir_ / "many.fasta", random_proteins(1500, 4));
    const fs::path log = dir_ / "run.log";
    const std::string run = (dir_ / "many.fasta").string() + " -o " + out_.string() + " -m " +
                            local_model() +
                            " --flush-every 100000 --flush-seconds 1000 --sort-window 1500 "
                            "--max-tokens 40000";
    // Stopped as the first batch goes into the model: nothing is committed before the stop.
    const auto stopped =
        shell("$EMBED " + run + " > " + log.string() + " 2>&1 & run=$!\n" +
              "for i in $(seq 600); do grep -q 'residues in' " + log.string() +
              " && break; sleep 0.02; done\n" + "kill -TERM $run; wait $run; echo status=$?\n");
    ASSERT_EQ(printed(stopped.output, "status"), std::to_string(kStoppedBySigterm))
        << stopped.output << read_all(log);
    size_t parts = 0;
    for (const auto& entry : fs::directory_iterator(parts_)) {
        parts += entry.path().extension() == ".h5" ? 1 : 0;
    }
    EXPECT_GE(parts, 1u) << read_all(log);
    EXPECT_LE(parts, 2u) << read_all(log);

    const auto resumed = run_embed(run + " --resume");
    ASSERT_EQ(resumed.status, 0) << resumed.output;
    EXPECT_EQ(proteins_in(out_), 1500u);
}

}  // namespace
}  // namespace embed
