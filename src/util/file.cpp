#include "embed/util/file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

namespace embed {

namespace fs = std::filesystem;

std::shared_ptr<ReadOnlyFile> ReadOnlyFile::open(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        throw std::runtime_error(path.string() + ": cannot open: " + std::strerror(errno));
    }
    struct stat info {};
    if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        ::close(fd);
        throw std::runtime_error(path.string() + ": not a regular file");
    }
    return std::shared_ptr<ReadOnlyFile>(
        new ReadOnlyFile(path, fd, static_cast<uint64_t>(info.st_size)));
}

ReadOnlyFile::ReadOnlyFile(fs::path path, int fd, uint64_t size)
    : path_(std::move(path)), fd_(fd), size_(size) {}

ReadOnlyFile::~ReadOnlyFile() {
    ::close(fd_);
}

void ReadOnlyFile::read_at(uint64_t offset, void* destination, size_t size) const {
    if (offset > size_ || size > size_ - offset) {
        throw std::runtime_error(path_.string() + ": truncated (wanted " + std::to_string(size) +
                                 " bytes at offset " + std::to_string(offset) + ", file has " +
                                 std::to_string(size_) + ")");
    }
    auto* out = static_cast<char*>(destination);
    while (size > 0) {
        const ssize_t got = ::pread(fd_, out, size, static_cast<off_t>(offset));
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            throw std::runtime_error(path_.string() + ": read error at offset " +
                                     std::to_string(offset) + ": " +
                                     (got == 0 ? "unexpected end of file" : std::strerror(errno)));
        }
        out += got;
        offset += static_cast<uint64_t>(got);
        size -= static_cast<size_t>(got);
    }
}

std::string read_text_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error(path.string() + ": cannot open");
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

AtomicOutput::AtomicOutput(fs::path destination) : destination_(std::move(destination)) {
    const fs::path directory =
        destination_.has_parent_path() ? destination_.parent_path() : fs::path(".");
    if (!fs::is_directory(directory)) {
        throw std::runtime_error(destination_.string() + ": directory " + directory.string() +
                                 " does not exist");
    }
    temporary_ = directory / ("." + destination_.filename().string() + ".partial-" +
                              std::to_string(::getpid()));
}

AtomicOutput::~AtomicOutput() {
    if (!committed_) {
        std::error_code ignored;
        fs::remove(temporary_, ignored);
    }
}

void AtomicOutput::commit() {
    std::error_code error;
    fs::rename(temporary_, destination_, error);
    if (error) {
        throw std::runtime_error(destination_.string() + ": cannot move the finished output into " +
                                 "place: " + error.message());
    }
    committed_ = true;
}

}  // namespace embed
