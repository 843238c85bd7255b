// Issue 16, the input's part: gzip data followed by other bytes, an input edited between its two
// readings, NUL bytes and carriage returns, empty input, the stdin copy on a full disk or under
// SIGTERM, an unreadable input. Library tests where the library decides; the `embed`
// executable where the exit status, the message or the files left behind are the point.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>

#include <zlib.h>

#include "input/fasta.h"
#include "input/input_file.h"
#include "input/validation.h"

#include "test_support.h"

extern char** environ;

namespace embed {
namespace {

namespace fs = std::filesystem;
using testing::contains;
using testing::kExitBadInput;
using testing::kExitFailure;
using testing::local_model;
using testing::read_all;
using testing::run_embed;
using testing::TempDir;
using testing::write_file;

// Only a bound, so that a broken build fails instead of hanging: nothing is timed against it.
constexpr auto kPatience = std::chrono::seconds(120);

// Upper-case letters only, standing in for a model family's alphabet.
const Alphabet kLetters{"TEST", "A to Z", [](std::string_view residues) {
                            for (size_t i = 0; i < residues.size(); ++i) {
                                if (residues[i] < 'A' || residues[i] > 'Z') {
                                    return i;
                                }
                            }
                            return std::string_view::npos;
                        }};

// `text` as one gzip member.
std::string gzip_member(const std::string& text) {
    z_stream stream{};
    constexpr int kGzipWindowBits = 15 + 16;
    EXPECT_EQ(deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kGzipWindowBits, 8,
                           Z_DEFAULT_STRATEGY),
              Z_OK);
    std::string out(deflateBound(&stream, text.size()) + 64, '\0');
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    stream.avail_in = static_cast<uInt>(text.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
    out.resize(stream.total_out);
    deflateEnd(&stream);
    return out;
}

std::vector<std::string> names_in(const fs::path& directory) {
    std::vector<std::string> names;
    for (const fs::directory_entry& entry : fs::directory_iterator(directory)) {
        names.push_back(entry.path().filename().string());
    }
    return names;
}

bool has_stdin_copy(const fs::path& directory) {
    for (const std::string& name : names_in(directory)) {
        if (contains(name, ".input-")) {
            return true;
        }
    }
    return false;
}

// Polls `condition` until it holds; false if it never does within kPatience.
bool eventually(const std::function<bool()>& condition) {
    const auto give_up = std::chrono::steady_clock::now() + kPatience;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > give_up) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

// A shell command line run to its end: exit status (128 + N when signal N ended it), output.
testing::CommandResult run_shell(const std::string& command) {
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) {
        return {-1, "popen failed"};
    }
    std::string output;
    char buffer[4096];
    size_t got = 0;
    while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
        output.append(buffer, got);
    }
    const int status = ::pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), output};
}

// A shell command line running in the background; `exec` in it makes its PID the command's.
class Background {
public:
    explicit Background(const std::string& command) {
        const std::string shell = "/bin/sh";
        std::vector<char*> argv = {const_cast<char*>(shell.c_str()), const_cast<char*>("-c"),
                                   const_cast<char*>(command.c_str()), nullptr};
        EXPECT_EQ(::posix_spawn(&pid_, shell.c_str(), nullptr, nullptr, argv.data(), environ), 0);
    }
    ~Background() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            wait();
        }
    }
    Background(const Background&) = delete;
    Background& operator=(const Background&) = delete;

    pid_t pid() const { return pid_; }
    /// The exit status, or 128 + N when signal N ended it.
    int wait() {
        int status = 0;
        ::waitpid(std::exchange(pid_, -1), &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

private:
    pid_t pid_ = -1;
};

// A small tmpfs, for a disk that fills; unmounted at the end of the test.
class SmallDisk {
public:
    SmallDisk(const fs::path& at, const std::string& size, unsigned long flags = 0) : at_(at) {
        fs::create_directories(at_);
        mounted_ = ::mount("tmpfs", at_.c_str(), "tmpfs", flags, ("size=" + size).c_str()) == 0;
    }
    ~SmallDisk() {
        if (mounted_) {
            ::umount(at_.c_str());
        }
    }
    SmallDisk(const SmallDisk&) = delete;
    SmallDisk& operator=(const SmallDisk&) = delete;
    bool mounted() const { return mounted_; }

private:
    fs::path at_;
    bool mounted_ = false;
};

// ---- 2. gzip data followed by other bytes

TEST(HostileInput, GzipMemberFollowedByTextIsAnErrorNotAShorterInput) {
    TempDir dir;
    const std::string member = gzip_member(">g1\nMKV\n");
    write_file(dir / "x.fasta", member + ">p1\nMKL\n>p2\nMKA\n");
    try {
        const auto records = read_fasta((dir / "x.fasta").string());
        FAIL() << "read " << records.size() << " records of an input with text after its gzip data";
    } catch (const InputError& e) {
        FAIL() << "a corrupt file is not a bad record to skip: " << e.what();
    } catch (const std::runtime_error& e) {
        EXPECT_TRUE(contains(e.what(), (dir / "x.fasta").string())) << e.what();
        EXPECT_TRUE(contains(e.what(), "not gzip data")) << e.what();
        EXPECT_TRUE(contains(e.what(), "at byte " + std::to_string(member.size()))) << e.what();
    }
}

TEST(HostileInput, ConcatenatedGzipMembersAreAllRead) {
    TempDir dir;
    write_file(dir / "x.fasta.gz",
               gzip_member(">g1\nMKV\n>g2\nMK") + gzip_member("") + gzip_member("L\n>g3\nMKA\n"));
    const auto records = read_fasta((dir / "x.fasta.gz").string());
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[1].id, "g2");
    EXPECT_EQ(records[1].residues, "MKL");  // a record may span members, as with `cat`
    EXPECT_EQ(records[2].residues, "MKA");
}

TEST(HostileInput, GzipCutShortInItsSecondMemberIsAnError) {
    TempDir dir;
    const std::string second = gzip_member(">p1\nMKL\n");
    write_file(dir / "x.fasta.gz", gzip_member(">g1\nMKV\n") + second.substr(0, second.size() - 4));
    EXPECT_TRUE(contains(testing::error_of([&] { read_fasta((dir / "x.fasta.gz").string()); }),
                         "truncated or corrupt gzip"));
}

TEST(HostileInput, GzipWithTextAfterItStopsTheRunWithStatus1) {
    TempDir dir;
    write_file(dir / "x.fasta", gzip_member(">g1\nMKV\n") + ">p1\nMKL\n>p2\nMKA\n");
    const auto result = run_embed((dir / "x.fasta").string() + " -o " + (dir / "out.h5").string() +
                                  " -m " + local_model());
    EXPECT_EQ(result.status, kExitFailure) << result.output;
    EXPECT_TRUE(contains(result.output, "not gzip data")) << result.output;
    EXPECT_FALSE(fs::exists(dir / "out.h5"));
}

// ---- 3. an input edited between its two readings

TEST(HostileInput, SecondReadingRefusesARecordEditedInPlace) {
    TempDir dir;
    const std::string original = ">p1 first\nMKV\n>p2\nMKL\n>p3\nMKA\n";
    for (const auto& [from, to] :
         {std::pair{"MKL", "MKI"}, std::pair{">p2", ">q2"}, std::pair{"first", "fir5t"}}) {
        write_file(dir / "in.fasta", original);
        const InputFile input((dir / "in.fasta").string(), dir / "out.h5");
        InvalidRecords invalid(false);
        const InputScan scan = scan_input(input, kLetters, invalid);
        ASSERT_EQ(scan.fingerprints.size(), 3u);

        // In place: the same inode, the same length, so only the content can tell.
        std::fstream file(dir / "in.fasta", std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(static_cast<std::streamoff>(original.find(from)));
        file.write(to, static_cast<std::streamsize>(std::strlen(to)));
        file.close();

        InvalidRecords quiet(true, true);
        ProteinReader reader(input.path(), input.name(), kLetters, quiet, scan.repeats);
        std::string refused;
        size_t checked = 0;
        while (std::optional<Protein> p = reader.next()) {
            try {
                scan.check_unchanged(*p, input.name());
                ++checked;
            } catch (const InputError& e) {
                refused = e.what();
                break;
            }
        }
        EXPECT_TRUE(contains(refused, "changed while embed was reading it")) << from << refused;
        EXPECT_TRUE(contains(refused, (dir / "in.fasta").string())) << refused;
        EXPECT_EQ(checked, std::string(from) == "first" ? 0u : 1u) << from;
    }
}

TEST(HostileInput, SecondReadingWithMoreRecordsIsRefused) {
    InputScan scan;
    scan.lengths = {3, 3};
    EXPECT_TRUE(contains(testing::error_of([&] { scan.check_count(3, "in.fasta"); }),
                         "2 proteins the first time, 3 the second"));
    EXPECT_EQ(testing::error_of([&] { scan.check_count(2, "in.fasta"); }), "(no error)");
}

// The real race: strace holds the second opening of the input for a few seconds, during which
// the test edits a sequence in place, keeping every length.
TEST(HostileInput, InputEditedBetweenTheReadingsStopsTheRun) {
    if (run_shell("strace -f -qq -o /dev/null true").status != 0) {
        GTEST_SKIP() << "needs strace, allowed to trace (ptrace)";
    }
    TempDir dir;
    const std::string original = ">p1\nMKVLA\n>p2\nMKLLA\n>p3\nMKALA\n";
    write_file(dir / "in.fasta", original);
    constexpr int kHoldMicroseconds = 3'000'000;
    Background run(
        "exec strace -f -qq -o /dev/null " + std::string(testing::kStraceSanitizerOptions) +
        " -P " + (dir / "in.fasta").string() +
        " -e trace=openat -e inject=openat:delay_enter=" + std::to_string(kHoldMicroseconds) +
        ":when=2 " + EMBED_EXECUTABLE + " " + (dir / "in.fasta").string() + " -o " +
        (dir / "out.h5").string() + " -m " + local_model() + " 2> " + (dir / "log").string());
    ASSERT_TRUE(eventually([&] { return contains(read_all(dir / "log"), "read 3 proteins"); }))
        << read_all(dir / "log");
    std::fstream file(dir / "in.fasta", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(original.find("MKLLA")));
    file.write("MKWWA", 5);
    file.close();

    const int status = run.wait();
    const std::string log = read_all(dir / "log");
    EXPECT_EQ(status, kExitBadInput) << log;
    EXPECT_TRUE(contains(log, "in.fasta:3: record 'p2': the file changed while embed was reading"))
        << log;
    EXPECT_FALSE(fs::exists(dir / "out.h5"));
    EXPECT_FALSE(fs::exists(dir / "out.h5.parts")) << "nothing of the changed input is kept";
}

// ---- 4. NUL bytes and carriage returns

InputError error_reading(const std::string& text, size_t good_records) {
    TempDir dir;
    write_file(dir / "in.fasta", text);
    FastaReader reader((dir / "in.fasta").string());
    for (size_t i = 0; i < good_records; ++i) {
        EXPECT_TRUE(reader.next());
    }
    try {
        reader.next();
    } catch (const InputError& e) {
        EXPECT_FALSE(reader.next()) << "the bad record is consumed, so --skip-invalid goes on";
        return e;
    }
    ADD_FAILURE() << "no error";
    return InputError("", 0, "", "");
}

TEST(HostileInput, NulByteInAnIdIsRefusedWithLineAndByte) {
    const InputError e = error_reading(std::string(">x\nMKV\n>ab\0cd desc\nMKV\n", 22), 1);
    EXPECT_EQ(e.line(), 3u);
    EXPECT_EQ(e.record_id(), "ab\\0cd") << "shown whole, not cut at the NUL";
    EXPECT_TRUE(contains(e.problem(), "NUL byte")) << e.what();
    EXPECT_TRUE(contains(e.problem(), "byte 4 of the line")) << e.what();
}

TEST(HostileInput, NulByteInASequenceIsRefusedWithLineAndByte) {
    const InputError e = error_reading(std::string(">a\nMK\n M\0KV\n", 12), 0);
    EXPECT_EQ(e.line(), 3u);
    EXPECT_EQ(e.record_id(), "a");
    EXPECT_TRUE(contains(e.problem(), "byte 3 of the line")) << e.what();
}

TEST(HostileInput, IdsDifferingAfterANulAreRefusedBeforeTheModelLoads) {
    TempDir dir;
    write_file(dir / "in.fasta", std::string(">ab\0cd\nMKV\n>ab\0ef\nMKL\n", 22));
    const auto result = run_embed((dir / "in.fasta").string() + " -o " + (dir / "out.h5").string() +
                                  " -m " + local_model());
    EXPECT_EQ(result.status, kExitBadInput) << result.output;
    EXPECT_TRUE(contains(result.output, "in.fasta:1: record 'ab\\0cd': a NUL byte"))
        << result.output;
    EXPECT_FALSE(contains(result.output, "loaded")) << result.output;
    EXPECT_FALSE(fs::exists(dir / "out.h5"));
}

TEST(HostileInput, LoneCarriageReturnsEndLines) {
    TempDir dir;
    write_file(dir / "in.fasta", ">a\rMKV\r>b desc\rML\rL\r");
    const auto records = read_fasta((dir / "in.fasta").string());
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].id, "a");
    EXPECT_EQ(records[0].residues, "MKV");
    EXPECT_EQ(records[1].id, "b");
    EXPECT_EQ(records[1].description, "desc");
    EXPECT_EQ(records[1].residues, "MLL");
    EXPECT_EQ(records[1].header_line, 3u);
    EXPECT_EQ(records[1].line_of_residue(2), 5u);
}

TEST(HostileInput, MixedLineEndsReadAsTheirAuthorSawThem) {
    TempDir dir;
    write_file(dir / "in.fasta", ">a\r\nMKV\n>b\rML\r\n\r\nL\n>c\nMA");
    const auto records = read_fasta((dir / "in.fasta").string());
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[0].residues, "MKV");
    EXPECT_EQ(records[1].residues, "MLL");
    EXPECT_EQ(records[1].line_of_residue(2), 6u);
    EXPECT_EQ(records[2].header_line, 7u);
    EXPECT_EQ(records[2].residues, "MA");
}

TEST(HostileInput, CrlfSplitBetweenTwoReadsIsOneLineEnd) {
    // The reader reads 64 KiB at a time: "\r" ends the first read, "\n" starts the second.
    constexpr size_t kReadBytes = 1u << 16;
    const std::string head = ">a\n";
    const std::string residues(kReadBytes - 1 - head.size(), 'M');
    TempDir dir;
    write_file(dir / "in.fasta", head + residues + "\r\n>b\nMKV\r\n");
    const auto records = read_fasta((dir / "in.fasta").string());
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].residues, residues);
    EXPECT_EQ(records[1].header_line, 3u) << "no empty line between \\r and \\n";
}

// ---- 8 and 7. empty input; the copy of standard input

TEST(HostileInput, EmptyInputIsNoProteins) {
    TempDir dir;
    const std::string rest = " -o " + (dir / "out.h5").string() + " -m " + local_model();
    for (const std::string& input : {std::string("- < /dev/null"), std::string("/dev/null")}) {
        const auto result = run_embed(input + rest);
        EXPECT_EQ(result.status, kExitBadInput) << input << result.output;
        EXPECT_TRUE(contains(result.output, "no proteins to embed")) << result.output;
        EXPECT_TRUE(names_in(dir.path()).empty()) << input << ": left " << names_in(dir.path())[0];
    }

    TempDir elsewhere;
    const fs::path fifo = elsewhere / "empty.fifo";
    const fs::path log = elsewhere / "log";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    Background run(std::string("exec ") + EMBED_EXECUTABLE + " " + fifo.string() + rest + " 2> " +
                   log.string());
    const int writer = ::open(fifo.c_str(), O_WRONLY);  // until embed opens it
    ASSERT_GE(writer, 0);
    ::close(writer);
    EXPECT_EQ(run.wait(), kExitBadInput) << read_all(log);
    EXPECT_TRUE(contains(read_all(log), "no proteins to embed")) << read_all(log);
    EXPECT_TRUE(names_in(dir.path()).empty()) << "a FIFO: left " << names_in(dir.path())[0];
}

TEST(HostileInput, ErrorsInStandardInputNameItNotItsCopy) {
    TempDir dir;
    write_file(dir / "in.fasta", std::string(">a\nMKV\n>b\0c\nMKL\n", 17));
    const auto result = run_embed("- -o " + (dir / "out.h5").string() + " -m " + local_model() +
                                  " < " + (dir / "in.fasta").string());
    EXPECT_EQ(result.status, kExitBadInput) << result.output;
    EXPECT_TRUE(contains(result.output, "<stdin>:3: record 'b\\0c': a NUL byte")) << result.output;
    EXPECT_FALSE(contains(result.output, ".input-")) << result.output;
}

TEST(HostileInput, StandardInputCopyOnAFullDiskSaysWhyAndLeavesNothing) {
    TempDir dir;
    const SmallDisk disk(dir / "full", "64k");
    if (!disk.mounted()) {
        GTEST_SKIP() << "needs to mount a tmpfs (root)";
    }
    std::string fasta;
    for (int i = 0; i < 4000; ++i) {
        fasta += ">p" + std::to_string(i) + "\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n";
    }
    write_file(dir / "big.fasta", fasta);
    const auto result = run_embed("- -o " + (dir / "full/out.h5").string() + " -m " +
                                  local_model() + " < " + (dir / "big.fasta").string());
    EXPECT_EQ(result.status, kExitFailure) << result.output;
    EXPECT_TRUE(contains(result.output, "cannot keep <stdin>")) << result.output;
    EXPECT_TRUE(contains(result.output, (dir / "full/.out.h5.input-").string())) << result.output;
    EXPECT_TRUE(contains(result.output, "No space left on device")) << result.output;
    EXPECT_TRUE(names_in(dir / "full").empty()) << names_in(dir / "full")[0];
}

TEST(HostileInput, StandardInputCopyInAReadOnlyDirectorySaysWhy) {
    TempDir dir;
    const SmallDisk disk(dir / "read_only", "64k", MS_RDONLY);
    if (!disk.mounted()) {
        GTEST_SKIP() << "needs to mount a tmpfs (root)";
    }
    write_file(dir / "in.fasta", ">a\nMKV\n");
    const auto result = run_embed("- -o " + (dir / "read_only/out.h5").string() + " -m " +
                                  local_model() + " < " + (dir / "in.fasta").string());
    // The output's lock, taken before the copy, is the first file the run cannot make.
    EXPECT_EQ(result.status, kExitFailure) << result.output;
    EXPECT_TRUE(contains(result.output,
                         (dir / "read_only/.out.h5.lock").string() + ": Read-only file system"))
        << result.output;
}

TEST(HostileInput, SigtermWhileCopyingStandardInputLeavesNothing) {
    TempDir dir;
    ASSERT_EQ(::mkfifo((dir / "in.fifo").c_str(), 0600), 0);
    fs::create_directory(dir / "out");
    Background run(std::string("exec ") + EMBED_EXECUTABLE + " - -o " +
                   (dir / "out/out.h5").string() + " -m " + local_model() + " < " +
                   (dir / "in.fifo").string() + " 2> " + (dir / "log").string());
    const int writer = ::open((dir / "in.fifo").c_str(), O_WRONLY);  // until the shell opens it
    ASSERT_GE(writer, 0);
    const std::string record = ">a\nMKV\n";
    ASSERT_EQ(::write(writer, record.data(), record.size()), static_cast<ssize_t>(record.size()));
    // The copy has begun, and waits for more of standard input, which stays open.
    ASSERT_TRUE(eventually([&] { return has_stdin_copy(dir / "out"); })) << read_all(dir / "log");
    ::kill(run.pid(), SIGTERM);
    EXPECT_EQ(run.wait(), 128 + SIGTERM) << read_all(dir / "log");
    ::close(writer);
    EXPECT_TRUE(names_in(dir / "out").empty()) << names_in(dir / "out")[0];
}

// ---- 14. an input that cannot be read

TEST(HostileInput, UnreadableInputIsAFileSystemFailure) {
    TempDir dir;
    write_file(dir / "in.fasta", ">a\nMKV\n");
    ::chmod((dir / "in.fasta").c_str(), 0);
    // root reads any file: drop the capabilities that let it, for the command only
    const std::string as_user =
        ::geteuid() == 0 ? "setpriv --bounding-set=-dac_override,-dac_read_search " : "";
    const auto result = run_shell(as_user + EMBED_EXECUTABLE + " " + (dir / "in.fasta").string() +
                                  " -o " + (dir / "out.h5").string() + " -m " + local_model());
    EXPECT_EQ(result.status, kExitFailure) << result.output;
    EXPECT_TRUE(contains(result.output, (dir / "in.fasta").string() + ": cannot open: Permission "
                                                                      "denied"))
        << result.output;
}

TEST(HostileInput, MissingInputOrADirectoryIsBadInput) {
    TempDir dir;
    const std::string rest = " -o " + (dir / "out.h5").string() + " -m " + local_model();
    const auto missing = run_embed((dir / "absent.fasta").string() + rest);
    EXPECT_EQ(missing.status, kExitBadInput) << missing.output;
    EXPECT_TRUE(contains(missing.output, "absent.fasta: cannot open: No such file"))
        << missing.output;

    const auto directory = run_embed(dir.path().string() + rest);
    EXPECT_EQ(directory.status, kExitBadInput) << directory.output;
    EXPECT_TRUE(contains(directory.output, "is a directory")) << directory.output;
}

}  // namespace
}  // namespace embed
