// Helpers shared by the tests: where the fixtures are, temporary directories, running the CLI.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include <gtest/gtest.h>
#include <hdf5.h>
#include <torch/torch.h>

#include "output/hdf5_writer.h"

namespace embed::testing {

/// Agreement with the upstream Python the project holds itself to (fp32 reaches about 1e-6).
constexpr double kParityTolerance = 1e-4;
/// A protein's embedding must not depend on what it was batched with.
constexpr double kBatchingTolerance = 1e-5;

/// ../shared beside the repository (or $EMBED_SHARED_DIR): the released models' reference
/// outputs (real_model_refs), too large for the repository.
std::filesystem::path shared_dir();
bool have_shared_testdata();
/// shared_dir()/testdata/<relative>
std::filesystem::path testdata(const std::string& relative);
/// tests/data/<name>: the fixtures committed with the tests (tests/data/README.md).
std::filesystem::path data_file(const std::string& name);

/// A fresh directory, removed with everything in it at the end of the test.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

void write_file(const std::filesystem::path& path, const std::string& content);
/// A file's bytes ("" when it cannot be read).
std::string read_all(const std::filesystem::path& path);

/// `embed`'s exit statuses (README, "Logs and exit status").
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadInput = 2;
/// tests/data/esm2_tiny_pytorch_bin: the tiny ESM-2 committed with the tests (the upstream
/// fixture's random weights as a Hugging Face directory), so end-to-end tests need no ../shared.
std::string local_model();
/// examples/proteins.fasta: five proteins.
std::string example_fasta();
/// FASTA of `count` proteins of random residues and lengths (30-200), ids p0, p1, ...; the same
/// for every call with the same seed.
std::string random_proteins(size_t count, unsigned seed);

struct CommandResult {
    int status;
    std::string output;  ///< stdout and stderr together
};
/// A float32 dataset of an HDF5 file as a tensor of its shape.
torch::Tensor read_tensor(hid_t file, const std::string& path);
/// Largest absolute difference; the shapes must agree.
double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b);
/// Smallest cosine similarity between corresponding vectors along the last dimension.
double min_cosine(const torch::Tensor& a, const torch::Tensor& b);
bool contains(const std::string& text, const std::string& part);
/// The message of the exception `f` throws, or "(no error)".
std::string error_of(const std::function<void()>& f);

/// A protein's output for the writer: `layers` x `length` x `width` per-residue values and
/// `layers` x `width` per-protein ones, all `fill`; key, description and MD5 made from `id`.
ProteinEmbedding filled_protein(const std::string& id, uint64_t index, int64_t layers,
                                int64_t length, int64_t width, float fill);

/// Writes float32 tensors as a .safetensors file.
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors);

/// strace's options for a traced `embed`: LeakSanitizer cannot work under ptrace and ends
/// the process with status 1 at exit, so a traced run under scripts/sanitize.sh goes without it.
inline constexpr const char* kStraceSanitizerOptions = "-E ASAN_OPTIONS=detect_leaks=0";

/// Runs the built `embed` executable with `arguments` (a shell word list) in a shell.
CommandResult run_embed(const std::string& arguments);
/// The same with `environment` ("NAME=value ...") set for the command.
CommandResult run_embed_with_environment(const std::string& environment,
                                         const std::string& arguments);

}  // namespace embed::testing

/// Whether this build runs under AddressSanitizer (scripts/sanitize.sh), whose allocator keeps
/// freed memory in quarantine and whose shadow memory needs terabytes of address space.
#if defined(__SANITIZE_ADDRESS__)
#define EMBED_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMBED_UNDER_ASAN 1
#endif
#endif
#ifndef EMBED_UNDER_ASAN
#define EMBED_UNDER_ASAN 0
#endif

/// Skips a test that limits a process's address space, which AddressSanitizer cannot run in.
#define SKIP_UNDER_ASAN_FOR_ADDRESS_LIMITS()                                                   \
    do {                                                                                       \
        if (EMBED_UNDER_ASAN) {                                                                \
            GTEST_SKIP() << "limits the address space, which AddressSanitizer's shadow needs"; \
        }                                                                                      \
    } while (false)

/// Skips the test, saying what is missing, when ../shared/testdata is not beside the repository.
#define REQUIRE_SHARED_TESTDATA()                                       \
    do {                                                                \
        if (!::embed::testing::have_shared_testdata()) {                \
            GTEST_SKIP() << "needs the upstream fixtures in "           \
                         << ::embed::testing::shared_dir() / "testdata" \
                         << " (not found)";                             \
        }                                                               \
    } while (false)
