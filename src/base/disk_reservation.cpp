#include "base/disk_reservation.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <utility>

#include "base/file.h"

namespace embed {
namespace {

std::string megabytes(uint64_t bytes) {
    return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MB";
}

}  // namespace

void require_free_space(const std::filesystem::path& path, uint64_t bytes) {
    const std::filesystem::path directory = parent_directory(path);
    struct statvfs disk {};
    if (::statvfs(directory.c_str(), &disk) != 0) {
        return;  // creating the file will say why
    }
    const uint64_t free = static_cast<uint64_t>(disk.f_bavail) * disk.f_frsize;
    if (free < bytes) {
        throw std::runtime_error(path.string() + ": " + std::strerror(ENOSPC) + " (" +
                                 megabytes(bytes) + " needed to create it, " + megabytes(free) +
                                 " free)");
    }
}

DiskReservation::DiskReservation(const std::filesystem::path& path)
    : path_(path), fd_(::open(path.c_str(), O_WRONLY | O_CLOEXEC)) {
    if (fd_ < 0) {
        throw std::runtime_error(path_.string() +
                                 ": cannot open to reserve disk space: " + std::strerror(errno));
    }
}

DiskReservation::~DiskReservation() {
    release();
}

DiskReservation::DiskReservation(DiskReservation&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      reserved_(other.reserved_),
      can_reserve_(other.can_reserve_) {}

DiskReservation& DiskReservation::operator=(DiskReservation&& other) noexcept {
    if (this != &other) {
        release();
        path_ = std::move(other.path_);
        fd_ = std::exchange(other.fd_, -1);
        reserved_ = other.reserved_;
        can_reserve_ = other.can_reserve_;
    }
    return *this;
}

void DiskReservation::reserve_beyond_end(uint64_t bytes) {
    if (fd_ < 0 || bytes == 0) {
        return;
    }
    struct stat status {};
    const uint64_t end =
        ::fstat(fd_, &status) == 0 ? static_cast<uint64_t>(status.st_size) : reserved_;
    // A compressed file grows by less than the values it is given: claim from its real end,
    // not by adding up every claim.
    const uint64_t target = end + bytes;
    if (target <= reserved_) {
        return;
    }
    if (can_reserve_) {
        if (::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(reserved_),
                        static_cast<off_t>(target - reserved_)) == 0) {
            reserved_ = target;
            return;
        }
        const int error = errno;
        if (error != EOPNOTSUPP && error != ENOSYS) {
            throw std::runtime_error(path_.string() + ": " + std::strerror(error) + " (" +
                                     megabytes(target) + " needed for it, " +
                                     megabytes(free_bytes()) + " more free)");
        }
        can_reserve_ = false;
    }
    if (free_bytes() < bytes) {
        throw std::runtime_error(path_.string() + ": " + std::strerror(ENOSPC) + " (" +
                                 megabytes(bytes) + " more needed for it, " +
                                 megabytes(free_bytes()) + " free)");
    }
    reserved_ = target;
}

uint64_t DiskReservation::free_bytes() const {
    struct statvfs disk {};
    return ::fstatvfs(fd_, &disk) == 0 ? static_cast<uint64_t>(disk.f_bavail) * disk.f_frsize : 0;
}

void DiskReservation::release() {
    if (fd_ < 0) {
        return;
    }
    struct stat status {};
    if (can_reserve_ && ::fstat(fd_, &status) == 0 &&
        reserved_ > static_cast<uint64_t>(status.st_size)) {
        // Blocks claimed past the end stay allocated until given back. tmpfs and XFS free them
        // by punching a hole; ext4 ignores a hole past the end but frees them when the file is
        // truncated to its own size.
        ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, status.st_size,
                    static_cast<off_t>(reserved_ - static_cast<uint64_t>(status.st_size)));
        if (::ftruncate(fd_, status.st_size) != 0) {
            // The blocks then go with the file, when it is removed.
        }
    }
    ::close(fd_);
    fd_ = -1;
}

}  // namespace embed
