#include "embed/download.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <curl/curl.h>
#include <fcntl.h>
#include <memory>
#include <sys/file.h>
#include <unistd.h>
#include <vector>

#include <spdlog/spdlog.h>

#include "embed/progress.h"
#include "embed/util/md5.h"
#include "embed/util/sha256.h"
#include "embed/version.h"

namespace embed {
namespace {

namespace fs = std::filesystem;

constexpr long kHttpOk = 200;
constexpr long kHttpPartialContent = 206;
constexpr long kHttpRangeNotSatisfiable = 416;
constexpr long kHttpErrors = 400;
constexpr long kStallBytesPerSecond = 1024;
constexpr size_t kChecksumChunk = 1 << 20;

// Holds an exclusive lock on `path` (created if needed) for its lifetime.
class FileLock {
public:
    explicit FileLock(const fs::path& path) {
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd_ < 0) {
            throw std::runtime_error(path.string() +
                                     ": cannot create lock file: " + std::strerror(errno));
        }
        if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            spdlog::info("waiting for another process downloading {}", path.parent_path().string());
            while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
            }
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

// What one transfer writes, and how it reports progress.
struct Transfer {
    FILE* file = nullptr;
    uint64_t resumed_from = 0;
    std::string label;  // for the progress bar, which starts once the size is known
    std::unique_ptr<Progress> progress;
    uint64_t reported = 0;
};

size_t write_body(char* data, size_t size, size_t count, void* user) {
    return std::fwrite(data, size, count, static_cast<Transfer*>(user)->file) * size;
}

int report_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
    auto* transfer = static_cast<Transfer*>(user);
    if (!transfer->progress && total > 0) {
        transfer->progress = std::make_unique<Progress>(
            transfer->label, static_cast<int64_t>(transfer->resumed_from) + total, "B");
        transfer->progress->advance(static_cast<int64_t>(transfer->resumed_from));
    }
    if (transfer->progress && now > 0) {
        const auto done = static_cast<uint64_t>(now);
        transfer->progress->advance(static_cast<int64_t>(done - transfer->reported));
        transfer->reported = done;
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
    Sha256 sha256;
    Md5 md5;
    std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(file.c_str(), "rb"), &std::fclose);
    if (!in) {
        throw std::runtime_error(file.string() + ": cannot read back the download");
    }
    std::vector<char> chunk(kChecksumChunk);
    size_t got = 0;
    while ((got = std::fread(chunk.data(), 1, chunk.size(), in.get())) > 0) {
        sha256.update(chunk.data(), got);
        md5.update(chunk.data(), got);
    }
    const auto mismatch = [&](const char* kind, const std::string& want, const std::string& got) {
        throw ChecksumError(url + ": " + kind + " checksum mismatch (expected " + want + ", got " +
                            got + "); the download is corrupted and was removed");
    };
    if (!expected.sha256.empty()) {
        const std::string digest = sha256.hex_digest();
        if (digest != expected.sha256) {
            mismatch("SHA-256", expected.sha256, digest);
        }
    }
    if (!expected.md5.empty()) {
        const std::string digest = md5.hex_digest();
        if (digest != expected.md5) {
            mismatch("MD5", expected.md5, digest);
        }
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

// One HTTP request continuing `part`.
Outcome transfer_once(const std::string& url, const fs::path& part, const fs::path& destination,
                      const DownloadOptions& options) {
    const uint64_t resume_from = fs::exists(part) ? fs::file_size(part) : 0;
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
    transfer.resumed_from = resume_from;
    transfer.label = "downloading " + destination.filename().string();
    char error[CURL_ERROR_SIZE] = "";
    const std::string agent = std::string("embed/") + kVersion;
    curl_easy_setopt(curl.handle, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.handle, CURLOPT_USERAGENT, agent.c_str());
    curl_easy_setopt(curl.handle, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl.handle, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl.handle, CURLOPT_CONNECTTIMEOUT, options.connect_timeout_seconds);
    curl_easy_setopt(curl.handle, CURLOPT_LOW_SPEED_LIMIT, kStallBytesPerSecond);
    curl_easy_setopt(curl.handle, CURLOPT_LOW_SPEED_TIME, options.stall_seconds);
    curl_easy_setopt(curl.handle, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(curl.handle, CURLOPT_WRITEDATA, &transfer);
    if (resume_from > 0) {
        curl_easy_setopt(curl.handle, CURLOPT_RESUME_FROM_LARGE,
                         static_cast<curl_off_t>(resume_from));
    }
    if (options.show_progress) {
        curl_easy_setopt(curl.handle, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl.handle, CURLOPT_XFERINFOFUNCTION, report_progress);
        curl_easy_setopt(curl.handle, CURLOPT_XFERINFODATA, &transfer);
    }

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
        return {};  // the partial file already holds everything; verification decides
    }
    if (fs::file_size(part) == 0) {
        fs::remove(part);
    }
    if (status >= kHttpErrors) {
        return {url + ": the server answered HTTP " + std::to_string(status), false};
    }
    if (code == CURLE_RANGE_ERROR) {  // the server cannot resume: start the file over
        fs::remove(part);
        return {"the server cannot resume a transfer", true};
    }
    if (code != CURLE_OK) {
        return {error[0] != '\0' ? error : curl_easy_strerror(code), broke_off(code)};
    }
    if (status != kHttpOk && status != kHttpPartialContent) {
        return {"unexpected HTTP status " + std::to_string(status), false};
    }
    const uint64_t start = status == kHttpPartialContent ? resume_from : 0;
    if (body >= 0 && fs::file_size(part) != start + static_cast<uint64_t>(body)) {
        return {"the connection closed early", true};
    }
    return {};
}

uint64_t bytes_kept(const fs::path& part) {
    return fs::exists(part) ? fs::file_size(part) : 0;
}

}  // namespace

void download_file(const std::string& url, const fs::path& destination,
                   const ExpectedContent& expected, const DownloadOptions& options) {
    static const CURLcode global_init = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (global_init != CURLE_OK) {
        throw std::runtime_error("libcurl could not be initialised");
    }
    fs::create_directories(destination.parent_path());
    const FileLock lock(destination.string() + ".lock");
    if (fs::exists(destination)) {
        return;  // another process finished it while this one waited
    }
    const fs::path part = destination.string() + ".part";
    Outcome outcome;
    for (int attempt = 1; attempt <= options.attempts; ++attempt) {
        if (bytes_kept(part) > 0) {
            spdlog::info("resuming {} from byte {}", url, bytes_kept(part));
        } else {
            spdlog::info("downloading {}", url);
        }
        outcome = transfer_once(url, part, destination, options);
        if (outcome.failure.empty()) {
            try {
                check_content(part, expected, url);
            } catch (const ChecksumError&) {
                fs::remove(part);
                throw;
            }
            fs::rename(part, destination);
            return;
        }
        if (!outcome.worth_retrying || attempt == options.attempts) {
            break;
        }
        spdlog::warn("download of {} broke off after {} bytes ({}); resuming", url,
                     bytes_kept(part), outcome.failure);
    }
    const uint64_t kept = bytes_kept(part);
    throw std::runtime_error(url + ": download failed: " + outcome.failure +
                             (kept > 0 ? " (the " + std::to_string(kept) +
                                             " bytes received are kept in " + part.string() +
                                             "; the next try resumes from there)"
                                       : ""));
}

}  // namespace embed
