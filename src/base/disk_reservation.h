// Disk space claimed for a file before a library writes it. libhdf5 1.10 crashes (SIGSEGV in
// H5Ocopy's cleanup, or at exit after a failed write, closing the file) when a write fails for
// lack of space in the middle of its structures; with the space claimed first, a full disk is
// an error here, naming the file, and libhdf5 never sees it.
#pragma once

#include <cstdint>
#include <filesystem>

namespace embed {

/// Throws std::runtime_error "PATH: no space left on device ..." unless the directory of `path`,
/// a file about to be created, has `bytes` free: libhdf5 writes a new file's first structures
/// when it closes it, also after an error, so its first claim is checked before it exists.
void require_free_space(const std::filesystem::path& path, uint64_t bytes);

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

    /// Makes sure `bytes` past the file's current end are claimed (its blocks, its size
    /// unchanged): what the next write may need, however much the file has grown since. Throws
    /// std::runtime_error "PATH: no space left on device ..." when the disk has not that much.
    /// Where the file system cannot reserve (fallocate unsupported, as on some NFS and Lustre
    /// versions), checks the free space instead, which another writer can still take.
    void reserve_beyond_end(uint64_t bytes);
    /// Gives back the blocks the file did not use; call once the file is closed.
    void release();

private:
    uint64_t free_bytes() const;

    std::filesystem::path path_;
    int fd_ = -1;
    uint64_t reserved_ = 0;
    bool can_reserve_ = true;
};

}  // namespace embed
