// Shared by the libFuzzer targets: the fuzzer's bytes as a file, the errors a reader may throw,
// and invariants whose violation is a finding.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include <spdlog/spdlog.h>

namespace embed::fuzz {

/// The readers take paths: a file of the fuzzer's bytes, rewritten for every input, one per
/// process, on tmpfs where there is one. (A memfd's /proc/self/fd path would do for most readers,
/// but HDF5 resolves it to a name it cannot open.)
class InputFile {
public:
    InputFile() {
        const std::filesystem::path directory = std::filesystem::is_directory("/dev/shm")
                                                    ? std::filesystem::path("/dev/shm")
                                                    : std::filesystem::temp_directory_path();
        path_ = (directory / ("embed-fuzz-" + std::to_string(::getpid()))).string();
        fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd_ < 0) {
            std::perror(path_.c_str());
            std::abort();
        }
    }
    ~InputFile() {
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    InputFile(const InputFile&) = delete;
    InputFile& operator=(const InputFile&) = delete;

    /// The path of a file holding exactly `data`.
    const std::string& write(const uint8_t* data, size_t size) {
        if (::ftruncate(fd_, 0) != 0 ||
            ::pwrite(fd_, data, size, 0) != static_cast<ssize_t>(size)) {
            std::perror(path_.c_str());
            std::abort();
        }
        return path_;
    }

    /// Its path, for naming files beside it.
    const std::string& path() const { return path_; }

private:
    std::string path_;
    int fd_ = -1;
};

/// Runs `read`; the errors the library promises for bad input (std::invalid_argument, with
/// InputError, and std::runtime_error) are the expected outcome for most inputs, and each must
/// name `source`, the file (or the name the reader was given for it). Anything else
/// (std::length_error, std::bad_alloc, c10::Error, ...) escapes and libFuzzer reports it. With
/// EMBED_FUZZ_VERBOSE set (replaying an input by hand), the messages are printed.
template <typename Read>
void expect_clean_errors(const std::string& source, Read&& read) {
    static const bool verbose = std::getenv("EMBED_FUZZ_VERBOSE") != nullptr;
    auto check = [&](const char* kind, const std::exception& e) {
        const std::string message = e.what();
        if (verbose) {
            std::fprintf(stderr, "%s: %s\n", kind, message.c_str());
        }
        if (message.find(source) == std::string::npos) {
            std::fprintf(stderr, "error message without the file's name %s: %s\n", source.c_str(),
                         message.c_str());
            std::abort();
        }
    };
    try {
        read();
    } catch (const std::invalid_argument& e) {
        check("invalid input", e);
    } catch (const std::runtime_error& e) {
        check("error", e);
    }
}

/// A broken invariant: a crash, so that libFuzzer keeps the input.
inline void require(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
        std::abort();
    }
}

/// Tensors are read only up to this size: the model loaders compare shapes before reading, so
/// a reader is never asked for more than the model's own sizes.
constexpr int64_t kMaxReadBytes = int64_t{64} << 20;

/// Whether a tensor of `shape` is one a model could ask for: no negative size, at most
/// kMaxReadBytes.
inline bool readable(const std::vector<int64_t>& shape, int64_t element_size) {
    int64_t bytes = element_size;
    for (const int64_t size : shape) {
        if (size < 0 || __builtin_mul_overflow(bytes, size, &bytes)) {
            return false;
        }
    }
    return bytes <= kMaxReadBytes;
}

/// Warnings for skipped records and the like would flood the fuzzer's output.
inline void quiet_logs() {
    spdlog::set_level(spdlog::level::off);
}

}  // namespace embed::fuzz
