// Stage 5, crash-safe: a run writes its proteins into parts, complete HDF5 files in
// OUTPUT.parts/, each written under a temporary name, synced and renamed into place. A run
// killed at any moment (SIGKILL, power loss) loses only the proteins after the last part; a
// protein is in a committed part whole, or in none. At the end merge.h puts the parts together
// into OUTPUT in input order, and the directory goes. An OutputLock keeps a second run off
// the same output meanwhile.
#pragma once

#include <filesystem>
#include <vector>

namespace embed {

/// One run per output at a time: an fcntl() write lock on .OUTPUT.lock beside OUTPUT, which
/// holds "PID host" of its run. Taken before the run reads its input or touches OUTPUT.parts,
/// held until the output is in place and the parts are gone; the kernel (or the NFS server,
/// or Lustre) releases it when the process ends, however it ends. Where locks work: local file
/// systems; NFSv4, and NFSv3 with lockd, across hosts (a crashed host's lock lasts until the
/// server's lease or grace period ends); Lustre mounted with -o flock across hosts, with -o
/// localflock on one host only; NFS mounted with -o nolock or local_lock: one host only.
/// Where the file system refuses locks (Lustre without flock options), the run warns and goes
/// on unlocked.
class OutputLock {
public:
    /// .OUTPUT.lock beside OUTPUT.
    static std::filesystem::path file_of(const std::filesystem::path& output);

    /// Takes the lock, or throws BadInput naming the run that holds it (its PID
    /// and host). Then removes what dead runs on this output left beside it: the hidden files of
    /// util/file.h's HiddenKind (a final merge's temporaries, a kept standard input) whose
    /// process is not running on this host. Throws std::runtime_error when the lock file cannot be
    /// made.
    explicit OutputLock(const std::filesystem::path& output);
    /// Removes the lock file, then releases the lock.
    ~OutputLock();
    OutputLock(const OutputLock&) = delete;
    OutputLock& operator=(const OutputLock&) = delete;

    /// False where the file system refused locks (then nothing is removed of other runs).
    bool held() const { return fd_ >= 0; }

private:
    void remove_dead_runs_files(const std::filesystem::path& output) const;

    std::filesystem::path path_;
    int fd_ = -1;
    int signal_slot_ = -1;
};

class OutputParts {
public:
    /// OUTPUT.parts beside OUTPUT.
    static std::filesystem::path directory_of(const std::filesystem::path& output);

    /// Under `lock` (of `output`): removes the temporaries a killed run left in the directory,
    /// and the directory itself when no committed part is left in it (nothing to resume).
    /// Without `resume` committed parts are an error saying how to resume, unless `overwrite`,
    /// which removes them. The directory is created with the first part.
    OutputParts(const OutputLock& lock, const std::filesystem::path& output, bool resume,
                bool overwrite);

    const std::filesystem::path& directory() const { return directory_; }
    /// Committed parts, oldest first.
    std::vector<std::filesystem::path> committed() const;
    /// A name for the next part, to write to and pass to commit().
    std::filesystem::path next_temporary();
    /// Syncs the finished temporary and renames it into place.
    void commit(const std::filesystem::path& temporary);
    /// Removes the directory and everything in it (after the merged output is in place).
    void remove();

private:
    std::filesystem::path directory_;
    size_t next_number_ = 1;
};

}  // namespace embed
