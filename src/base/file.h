// Files read at arbitrary offsets (checkpoint tensors are read one at a time, on demand),
// and output files that appear under their final name only once complete.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <unistd.h>

namespace embed {

/// A file opened for positioned reads; shareable between the tensors that live in it.
class ReadOnlyFile {
public:
    /// Throws std::runtime_error naming the path when it cannot be opened.
    static std::shared_ptr<ReadOnlyFile> open(const std::filesystem::path& path);
    /// Takes ownership of the open descriptor `fd` (a memory file, say), known in errors as
    /// `name`. Its size is the size it has now.
    static std::shared_ptr<ReadOnlyFile> adopt(int fd, std::filesystem::path name);
    ~ReadOnlyFile();
    ReadOnlyFile(const ReadOnlyFile&) = delete;
    ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;

    const std::filesystem::path& path() const { return path_; }
    uint64_t size() const { return size_; }
    /// Reads exactly `size` bytes at `offset`; a short file is an error naming the path.
    void read_at(uint64_t offset, void* destination, size_t size) const;

    /// The whole file mapped into memory, copy-on-write (writes stay private to the process),
    /// or nullptr where it cannot be mapped. Mapped on first use; unmapped with the object.
    /// Its pages are read from the page cache (or the disk) as they are first touched.
    char* mapping() const;
    /// Gives the mapped pages wholly inside [offset, offset + size) back: bytes there that
    /// are used again are read again. For data no longer needed (weights copied elsewhere).
    void release(uint64_t offset, size_t size) const;

private:
    ReadOnlyFile(std::filesystem::path path, int fd, uint64_t size);

    std::filesystem::path path_;
    int fd_;
    uint64_t size_;
    mutable std::once_flag mapped_once_;
    mutable char* mapping_ = nullptr;
};

/// Whole file as a string (small files: configs, pickles).
std::string read_text_file(const std::filesystem::path& path);

/// The directory `path` is in ("." for a bare name).
std::filesystem::path parent_directory(const std::filesystem::path& path);

/// The hidden files a run writes beside its output NAME, each named .NAME<infix>PID<suffix> after
/// the process that wrote it, so that a later run can tell a dead run's files by name.
struct HiddenKind {
    const char* infix;
    const char* suffix;
};
/// An AtomicOutput's or AtomicDirectory's temporary.
inline constexpr HiddenKind kPartial{".partial-", ""};
/// An old output directory that AtomicDirectory moved aside where names cannot be swapped.
inline constexpr HiddenKind kReplaced{".partial-", ".replaced"};
/// Standard input (or a pipe) kept for the second reading.
inline constexpr HiddenKind kInputCopy{".input-", ".fasta"};
inline constexpr HiddenKind kHiddenKinds[] = {kPartial, kReplaced, kInputCopy};

/// `output`'s hidden file of `kind` for process `pid`.
std::filesystem::path hidden_path(const std::filesystem::path& output, HiddenKind kind,
                                  long pid = ::getpid());
/// The PID in `name` where it names one of `output`'s hidden files; 0 otherwise.
long hidden_file_owner(const std::string& name, const std::filesystem::path& output);

/// Throws BadInput, before any work, when `output`'s name is legal but leaves no
/// room within the file system's limit on a name (255 bytes on Linux's) for the longest hidden
/// name written beside it (.NAME.partial-PID.replaced, see HiddenKind).
void check_output_name(const std::filesystem::path& output);

/// Writes to a hidden temporary beside `destination` and renames it into place on commit(),
/// so a failed run never leaves a partial file, nor touches an existing one. The temporary is
/// also removed when the process is interrupted (see remove_partial_outputs_on_interrupt).
class AtomicOutput {
public:
    /// Creates the empty temporary at once, so an unwritable destination fails before any
    /// work; throws std::runtime_error naming the path.
    explicit AtomicOutput(std::filesystem::path destination);
    ~AtomicOutput();  // removes the temporary unless committed
    AtomicOutput(const AtomicOutput&) = delete;
    AtomicOutput& operator=(const AtomicOutput&) = delete;

    const std::filesystem::path& temporary_path() const { return temporary_; }
    const std::filesystem::path& destination() const { return destination_; }
    /// Syncs the temporary and renames it to the destination (atomic on POSIX file systems).
    void commit();

private:
    std::filesystem::path destination_;
    std::filesystem::path temporary_;
    bool committed_ = false;
    int signal_slot_ = -1;
};

/// A directory of output files, written under a temporary name beside its destination and
/// moved into place when complete. An existing destination is replaced only then, in one step
/// where the file system can swap two names (the old one is then removed), so a crash at any
/// moment leaves the old or the new directory in place.
class AtomicDirectory {
public:
    /// Creates the empty temporary directory; throws std::runtime_error naming the path.
    explicit AtomicDirectory(std::filesystem::path destination);
    ~AtomicDirectory();  // removes the temporary unless committed
    AtomicDirectory(const AtomicDirectory&) = delete;
    AtomicDirectory& operator=(const AtomicDirectory&) = delete;

    const std::filesystem::path& temporary_path() const { return temporary_; }
    /// Syncs the files in it and moves it to the destination.
    void commit();

private:
    std::filesystem::path destination_;
    std::filesystem::path temporary_;
    bool committed_ = false;
};

/// A file the process writes for its own use (a copy of standard input), removed at
/// destruction, and by the handler of remove_partial_outputs_on_interrupt when a signal ends
/// the process first.
class TemporaryFile {
public:
    /// Creates `path` for writing, readable by this user only (the name should hold the PID:
    /// an existing file there is a dead process's and is replaced); throws std::runtime_error
    /// naming the path and the system's reason.
    explicit TemporaryFile(std::filesystem::path path);
    ~TemporaryFile();
    TemporaryFile(const TemporaryFile&) = delete;
    TemporaryFile& operator=(const TemporaryFile&) = delete;

    const std::filesystem::path& path() const { return path_; }
    /// Appends `size` bytes; throws std::runtime_error naming the file and the system's reason
    /// (such as "No space left on device").
    void write(const char* data, size_t size);
    /// Ends the writing, reporting an error the system delayed until then; the file stays
    /// until destruction.
    void close();

private:
    std::filesystem::path path_;
    int fd_ = -1;
    int signal_slot_ = -1;
};

/// Installs SIGINT, SIGTERM and SIGHUP handlers that delete the temporaries of unfinished
/// AtomicOutputs (and the files given to remove_on_interrupt) and then end the process as the
/// signal would have. Call once from main().
void remove_partial_outputs_on_interrupt();
/// Has the signal handler above delete `path` if a signal ends the process. Returns the slot to
/// pass to keep_on_interrupt, or -1 where the path is too long or all slots are taken.
int remove_on_interrupt(const std::filesystem::path& path);
/// Undoes remove_on_interrupt (a negative slot is ignored).
void keep_on_interrupt(int slot);

/// With graceful stops on, the first SIGINT, SIGTERM or SIGHUP is only recorded (a long run
/// saves its work and exits); a second one ends the process at once, as when off.
void set_graceful_stop(bool enabled);
/// Graceful stops on while it lives: the embedding saves its work, a merge stops between two
/// proteins, and the run says how to continue.
class GracefulStop {
public:
    GracefulStop() { set_graceful_stop(true); }
    ~GracefulStop() { set_graceful_stop(false); }
    GracefulStop(const GracefulStop&) = delete;
    GracefulStop& operator=(const GracefulStop&) = delete;
};
/// The signal that asked the run to stop, or 0.
int stop_requested();

/// Flushes a file's data to the disk; throws std::runtime_error naming it.
void sync_file(const std::filesystem::path& path);
/// Makes renames in `directory` durable, where the file system allows.
void sync_directory(const std::filesystem::path& directory);

}  // namespace embed
