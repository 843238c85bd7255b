// Disk space claimed for a file before a library writes it. libhdf5 1.10 crashes (SIGSEGV in
// H5Ocopy's cleanup, or at exit after a failed write, closing the file) when a write fails for
// lack of space in the middle of its structures; with the space claimed first, a full disk is
// an error here, naming the file, and libhdf5 never sees it.
#pragma once

#include <cstdint>
#include <filesystem>

namespace embed {

class DiskReservation {
public:
    DiskReservation() = default;
    /// Reserves for `path`, which must exist; throws std::runtime_error naming it.
    explicit DiskReservation(const std::filesystem::path& path);
    ~DiskReservation();
    DiskReservation(DiskReservation&& other) noexcept;
    DiskReservation& operator=(DiskReservation&& other) noexcept;
    DiskReservation(const DiskReservation&) = delete;
    DiskReservation& operator=(const DiskReservation&) = delete;

    /// Claims `bytes` more beyond what is claimed (the file's blocks, its size unchanged).
    /// Throws std::runtime_error "PATH: no space left on device ..." when the disk has not
    /// that much. Where the file system cannot reserve (fallocate unsupported, as on some NFS
    /// and Lustre versions), checks the free space instead, which another writer can still take.
    void extend(uint64_t bytes);
    /// Gives back the blocks the file did not use; call once the file is closed.
    void release();

private:
    std::filesystem::path path_;
    int fd_ = -1;
    uint64_t reserved_ = 0;
    bool can_reserve_ = true;
};

}  // namespace embed
