// Fetching model files over HTTP(S) with libcurl: progress, resumable partial files, size and
// checksum verification, and a lock so that the jobs of a Slurm array download a file once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace embed {

/// What a downloaded file must be.
struct ExpectedContent {
    std::optional<uint64_t> size;
    std::string sha256;  ///< lower-case hex; empty: not checked
    std::string md5;     ///< lower-case hex; empty: not checked
};

struct DownloadOptions {
    /// Tries per URL; each resumes where the previous one stopped.
    int attempts = 3;
    bool show_progress = true;
    long connect_timeout_seconds = 30;
    /// A transfer slower than 1 KB/s for this long counts as interrupted.
    long stall_seconds = 60;
};

/// The file arrived but is not what was published; nothing of it is kept.
class ChecksumError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Downloads one file, from the first of `urls` (mirrors) that delivers it, to `destination`.
/// The bytes go to `destination`.part first, which a later call resumes with HTTP range
/// requests if this one is interrupted (starting with the mirror the part came from); the file
/// appears under its name only once complete and verified. If another process is downloading
/// the same file, waits for it. Throws ChecksumError when every mirror delivered something else
/// than expected (nothing is kept), and std::runtime_error naming the URL and the reason when
/// no transfer completed (the partial file is kept for the next try).
void download_file(const std::vector<std::string>& urls, const std::filesystem::path& destination,
                   const ExpectedContent& expected, const DownloadOptions& options = {});

}  // namespace embed
