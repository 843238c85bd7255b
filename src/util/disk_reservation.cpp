#include "embed/util/disk_reservation.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <utility>

namespace embed {
namespace {

std::string megabytes(uint64_t bytes) {
    return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MB";
}

}  // namespace

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

void DiskReservation::extend(uint64_t bytes) {
    if (fd_ < 0 || bytes == 0) {
        return;
    }
    if (can_reserve_) {
        if (::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(reserved_),
                        static_cast<off_t>(bytes)) == 0) {
            reserved_ += bytes;
            return;
        }
        const int error = errno;
        if (error != EOPNOTSUPP && error != ENOSYS) {
            struct statvfs disk {};
            const uint64_t free = ::fstatvfs(fd_, &disk) == 0
                                      ? static_cast<uint64_t>(disk.f_bavail) * disk.f_frsize
                                      : 0;
            throw std::runtime_error(path_.string() + ": " + std::strerror(error) + " (" +
                                     megabytes(reserved_ + bytes) + " needed for it, " +
                                     megabytes(free) + " more free)");
        }
        can_reserve_ = false;
    }
    struct statvfs disk {};
    if (::fstatvfs(fd_, &disk) == 0 &&
        static_cast<uint64_t>(disk.f_bavail) * disk.f_frsize < bytes) {
        throw std::runtime_error(path_.string() + ": " + std::strerror(ENOSPC) + " (" +
                                 megabytes(bytes) + " more needed for it, " +
                                 megabytes(static_cast<uint64_t>(disk.f_bavail) * disk.f_frsize) +
                                 " free)");
    }
    reserved_ += bytes;
}

void DiskReservation::release() {
    if (fd_ < 0) {
        return;
    }
    struct stat status {};
    if (can_reserve_ && ::fstat(fd_, &status) == 0 &&
        reserved_ > static_cast<uint64_t>(status.st_size)) {
        // Blocks past the end stay allocated until given back; failing that, a later truncate
        // or removal of the file frees them.
        ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, status.st_size,
                    static_cast<off_t>(reserved_ - static_cast<uint64_t>(status.st_size)));
    }
    ::close(fd_);
    fd_ = -1;
}

}  // namespace embed
