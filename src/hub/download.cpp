#include "hub/download.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <curl/curl.h>
#include <fcntl.h>
#include <fstream>
#include <memory>
#include <sys/file.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "base/digest.h"
#include "base/errors.h"
#include "base/progress.h"
#include "base/version.h"

namespace embed {
namespace {

namespace fs = std::filesystem;

constexpr long kHttpOk = 200;
constexpr long kHttpPartialContent = 206;
constexpr long kHttpRangeNotSatisfiable = 416;
constexpr long kStallBytesPerSecond = 1024;
constexpr size_t kChecksumChunk = 1 << 20;
constexpr std::string_view kContentRange = "content-range: bytes */";

// Holds an exclusive lock on `path` (created if needed) while it lives. The lock file stays:
// deleting it would let a process that opened it earlier lock a file nobody else sees.
class FileLock {
public:
    explicit FileLock(const fs::path& path) {
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd_ < 0) {
            throw std::runtime_error(path.string() +
                                     ": cannot create lock file: " + std::strerror(errno));
        }
        if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) {
            return;
        }
        if (errno != EWOULDBLOCK) {
            spdlog::warn(
                "{}: the file system does not support locks ({}); parallel jobs may "
                "download this file at the same time",
                path.string(), std::strerror(errno));
            return;
        }
        spdlog::info("waiting for another process downloading {}", path.parent_path().string());
        while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
        }
    }
    ~FileLock() { ::close(fd_); }
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;

private:
    int fd_ = -1;
};

struct CurlHandle {
    CURL* handle = curl_easy_init();
    ~CurlHandle() { curl_easy_cleanup(handle); }
};

// What one request writes, and how it reports progress.
struct Transfer {
    FILE* file = nullptr;
    std::string label;  // for the progress bar, which starts once the size is known
    std::unique_ptr<Progress> progress;
    int64_t reported = 0;
    std::optional<uint64_t> remote_size;  // from "Content-Range: bytes */N" (a 416 answer)
};

size_t write_body(char* data, size_t size, size_t count, void* user) {
    return std::fwrite(data, size, count, static_cast<Transfer*>(user)->file) * size;
}

size_t read_header(char* data, size_t size, size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    std::string line(data, size * count);
    std::transform(line.begin(), line.end(), line.begin(), ::tolower);
    if (line.compare(0, kContentRange.size(), kContentRange) == 0) {
        transfer->remote_size = std::strtoull(line.c_str() + kContentRange.size(), nullptr, 10);
    }
    return size * count;
}

// Called by libcurl: must not throw.
int report_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) noexcept {
    auto* transfer = static_cast<Transfer*>(user);
    try {
        if (!transfer->progress && total > 0) {
            transfer->progress = std::make_unique<Progress>(transfer->label, total, "B");
        }
        if (transfer->progress && now > transfer->reported) {
            transfer->progress->advance(now - transfer->reported);
            transfer->reported = now;
        }
    } catch (...) {
        // Progress is a courtesy; the transfer goes on without it.
    }
    return 0;
}

void check_content(const fs::path& file, const ExpectedContent& expected, const std::string& url) {
    const uint64_t size = fs::file_size(file);
    if (expected.size && size != *expected.size) {
        throw ChecksumError(url + ": downloaded " + std::to_string(size) + " bytes, expected " +
                            std::to_string(*expected.size));
    }
    if (expected.sha256.empty() && expected.md5.empty()) {
        return;
    }
    Digest sha256(Digest::Algorithm::sha256);
    Digest md5(Digest::Algorithm::md5);
    std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(file.c_str(), "rb"), &std::fclose);
    if (!in) {
        throw std::runtime_error(file.string() + ": cannot read back the download");
    }
    std::vector<char> chunk(kChecksumChunk);
    size_t got = 0;
    while ((got = std::fread(chunk.data(), 1, chunk.size(), in.get())) > 0) {
        if (!expected.sha256.empty()) {
            sha256.update(chunk.data(), got);
        }
        if (!expected.md5.empty()) {
            md5.update(chunk.data(), got);
        }
    }
    const auto verify = [&](const char* kind, const std::string& want, const std::string& got) {
        if (got != want) {
            throw ChecksumError(url + ": " + kind + " checksum mismatch (expected " + want +
                                ", got " + got + "); the download is corrupted and was removed");
        }
    };
    if (!expected.sha256.empty()) {
        verify("SHA-256", expected.sha256, sha256.hex());
    }
    if (!expected.md5.empty()) {
        verify("MD5", expected.md5, md5.hex());
    }
}

// How one request ended: `failure` is empty when the body arrived whole.
struct Outcome {
    std::string failure;
    bool worth_retrying = false;  // the connection broke off, rather than never being made
};

bool broke_off(CURLcode code) {
    switch (code) {
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_OPERATION_TIMEDOUT: return true;
        default: return false;
    }
}

uint64_t bytes_in(const fs::path& file) {
    return fs::exists(file) ? fs::file_size(file) : 0;
}

// The request of transfer_once: `url` from byte `resume_from` on, into `transfer`, libcurl's
// message into `error` (CURL_ERROR_SIZE bytes).
void configure_transfer(CURL* handle, const std::string& url, const std::string& agent, char* error,
                        Transfer& transfer, uint64_t resume_from, const DownloadOptions& options) {
    curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle, CURLOPT_USERAGENT, agent.c_str());
    curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 1L);
    // Error pages must not end up in the file.
    curl_easy_setopt(handle, CURLOPT_FAILONERROR, 1L);
    // No SIGALRM-based DNS timeouts in a process with threads.
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, options.connect_timeout_seconds);
    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, kStallBytesPerSecond);
    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, options.stall_seconds);
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, read_header);
    curl_easy_setopt(handle, CURLOPT_HEADERDATA, &transfer);
    if (resume_from > 0) {
        curl_easy_setopt(handle, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(resume_from));
    }
    if (options.show_progress) {
        curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, report_progress);
        curl_easy_setopt(handle, CURLOPT_XFERINFODATA, &transfer);
    }
}

// One HTTP request continuing `part`.
Outcome transfer_once(const std::string& url, const fs::path& part, const fs::path& destination,
                      const DownloadOptions& options) {
    const uint64_t resume_from = bytes_in(part);
    std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(part.c_str(), "ab"), &std::fclose);
    if (!file) {
        throw std::runtime_error(part.string() + ": cannot write: " + std::strerror(errno));
    }
    CurlHandle curl;
    if (curl.handle == nullptr) {
        throw std::runtime_error("libcurl could not start");
    }
    Transfer transfer;
    transfer.file = file.get();
    transfer.label = "downloading " + destination.filename().string();
    char error[CURL_ERROR_SIZE] = "";
    const std::string agent = std::string("embed/") + kVersion;
    configure_transfer(curl.handle, url, agent, error, transfer, resume_from, options);
    const CURLcode code = curl_easy_perform(curl.handle);
    if (transfer.progress) {
        transfer.progress->finish();
    }
    long status = 0;
    curl_easy_getinfo(curl.handle, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t body = -1;
    curl_easy_getinfo(curl.handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &body);
    if (std::fflush(file.get()) != 0) {
        throw std::runtime_error(part.string() + ": write error: " + std::strerror(errno));
    }
    file.reset();

    if (status == kHttpRangeNotSatisfiable && resume_from > 0) {
        // Nothing after the part: complete if it is exactly the remote file, else start over.
        if (transfer.remote_size == resume_from) {
            return {};
        }
        fs::remove(part);
        return {"the partial file does not match the remote one; starting over", true};
    }
    if (bytes_in(part) == 0) {
        fs::remove(part);
    }
    if (code == CURLE_RANGE_ERROR) {  // the server cannot resume: start the file over
        fs::remove(part);
        return {"the server cannot resume a transfer", true};
    }
    if (code == CURLE_HTTP_RETURNED_ERROR) {
        return {"the server answered HTTP " + std::to_string(status), false};
    }
    if (code != CURLE_OK) {
        return {error[0] != '\0' ? error : curl_easy_strerror(code), broke_off(code)};
    }
    if (status != kHttpOk && status != kHttpPartialContent) {
        return {"unexpected HTTP status " + std::to_string(status), false};
    }
    const uint64_t start = status == kHttpPartialContent ? resume_from : 0;
    if (body >= 0 && bytes_in(part) != start + static_cast<uint64_t>(body)) {
        return {"the connection closed early", true};
    }
    return {};
}

// The partial file records which URL its bytes came from, so that it is only resumed from
// the same one.
fs::path source_record(const fs::path& part) {
    return part.string() + ".url";
}

std::string part_source(const fs::path& part) {
    std::ifstream in(source_record(part));
    std::string url;
    std::getline(in, url);
    return url;
}

void start_part(const fs::path& part, const std::string& url) {
    const std::string source = part_source(part);
    if (fs::exists(part) && source == url) {
        return;
    }
    // A part of unknown origin (put there by hand) is trusted; one from another mirror is not.
    if (!source.empty()) {
        fs::remove(part);
    }
    std::ofstream(source_record(part)) << url << "\n";
}

void remove_part(const fs::path& part) {
    fs::remove(part);
    fs::remove(source_record(part));
}

// Tries one URL; returns why it failed, or throws ChecksumError; empty when the file is in place.
std::string download_from(const std::string& url, const fs::path& part, const fs::path& destination,
                          const ExpectedContent& expected, const DownloadOptions& options) {
    start_part(part, url);
    Outcome outcome;
    for (int attempt = 1; attempt <= options.attempts; ++attempt) {
        if (bytes_in(part) > 0) {
            spdlog::info("resuming {} from byte {}", url, bytes_in(part));
        } else {
            spdlog::info("downloading {}", url);
        }
        outcome = transfer_once(url, part, destination, options);
        if (outcome.failure.empty()) {
            try {
                check_content(part, expected, url);
            } catch (const ChecksumError&) {
                remove_part(part);
                throw;
            }
            fs::rename(part, destination);
            fs::remove(source_record(part));
            return {};
        }
        if (!outcome.worth_retrying || attempt == options.attempts) {
            break;
        }
        spdlog::warn("download of {} broke off after {} bytes ({}); resuming", url, bytes_in(part),
                     outcome.failure);
    }
    const uint64_t kept = bytes_in(part);
    return url + ": download failed: " + outcome.failure +
           (kept > 0 ? " (the " + std::to_string(kept) + " bytes received are kept in " +
                           part.string() + "; the next try resumes from there)"
                     : "");
}

}  // namespace

void download_file(const std::vector<std::string>& urls, const fs::path& destination,
                   const ExpectedContent& expected, const DownloadOptions& options) {
    static const CURLcode global_init = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (global_init != CURLE_OK) {
        throw std::runtime_error("libcurl could not be initialised");
    }
    if (urls.empty()) {
        throw BadInput(destination.string() + ": no URL to download from");
    }
    fs::create_directories(destination.parent_path());
    const FileLock lock(destination.string() + ".lock");
    if (fs::exists(destination)) {
        return;  // another process finished it while this one waited
    }
    const fs::path part = destination.string() + ".part";
    // Resume from the mirror the partial file came from, then try the others in order.
    std::vector<std::string> order = urls;
    const std::string previous = part_source(part);
    if (const auto it = std::find(order.begin(), order.end(), previous); it != order.end()) {
        std::rotate(order.begin(), it, it + 1);
    }
    std::string failures;
    bool every_mirror_corrupted = true;
    for (const std::string& url : order) {
        std::string failure;
        try {
            failure = download_from(url, part, destination, expected, options);
            if (failure.empty()) {
                return;
            }
            every_mirror_corrupted = false;
        } catch (const ChecksumError& e) {
            failure = e.what();
        }
        failures += (failures.empty() ? "" : "; ") + failure;
    }
    if (every_mirror_corrupted) {
        throw ChecksumError(failures);
    }
    throw std::runtime_error(failures);
}

}  // namespace embed
