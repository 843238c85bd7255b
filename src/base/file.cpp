#include "base/file.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/mman.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <utility>

#include <climits>

#include "base/errors.h"

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

std::shared_ptr<ReadOnlyFile> ReadOnlyFile::adopt(int fd, fs::path name) {
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
        const int error = errno;
        ::close(fd);
        throw std::runtime_error(name.string() + ": " + std::strerror(error));
    }
    return std::shared_ptr<ReadOnlyFile>(
        new ReadOnlyFile(std::move(name), fd, static_cast<uint64_t>(info.st_size)));
}

ReadOnlyFile::ReadOnlyFile(fs::path path, int fd, uint64_t size)
    : path_(std::move(path)), fd_(fd), size_(size) {}

ReadOnlyFile::~ReadOnlyFile() {
    if (mapping_ != nullptr) {
        ::munmap(mapping_, size_);
    }
    ::close(fd_);
}

char* ReadOnlyFile::mapping() const {
    std::call_once(mapped_once_, [this] {
        if (size_ == 0) {
            return;
        }
        void* address = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd_, 0);
        if (address != MAP_FAILED) {
            mapping_ = static_cast<char*>(address);
        }
    });
    return mapping_;
}

void ReadOnlyFile::release(uint64_t offset, size_t size) const {
    const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const uint64_t first = (offset + page - 1) / page * page;
    const uint64_t last = std::min<uint64_t>(offset + size, size_) / page * page;
    if (mapping_ != nullptr && first < last) {
        ::madvise(mapping_ + first, last - first, MADV_DONTNEED);
    }
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

namespace {

// Temporaries of live AtomicOutputs, for the signal handler. Fixed-size and lock-free, as a
// handler may only touch such state; one run writes one output, so a few slots suffice. A slot
// is claimed (free -> writing), filled, then published (ready); the handler reads ready ones.
constexpr size_t kMaxLiveOutputs = 8;
constexpr size_t kMaxPathBytes = 4096;
enum SlotState : int { kFree, kWriting, kReady };
char g_partial_paths[kMaxLiveOutputs][kMaxPathBytes];
std::atomic<int> g_partial_state[kMaxLiveOutputs];

int register_partial(const fs::path& path) {
    const std::string& text = path.native();
    if (text.size() >= kMaxPathBytes) {
        return -1;
    }
    for (size_t slot = 0; slot < kMaxLiveOutputs; ++slot) {
        int expected = kFree;
        if (g_partial_state[slot].compare_exchange_strong(expected, kWriting)) {
            std::memcpy(g_partial_paths[slot], text.c_str(), text.size() + 1);
            g_partial_state[slot] = kReady;
            return static_cast<int>(slot);
        }
    }
    return -1;
}

void unregister_partial(int slot) {
    if (slot >= 0) {
        g_partial_state[slot] = kFree;
    }
}

std::atomic<bool> g_graceful_stop{false};
std::atomic<int> g_stop_signal{0};

extern "C" void remove_partials_and_reraise(int signal_number) {
    int none = 0;
    if (g_graceful_stop.load() && g_stop_signal.compare_exchange_strong(none, signal_number)) {
        return;  // the run saves its work and stops; a second signal ends it at once
    }
    for (size_t slot = 0; slot < kMaxLiveOutputs; ++slot) {
        if (g_partial_state[slot].load() == kReady) {
            ::unlink(g_partial_paths[slot]);
        }
    }
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
}

}  // namespace

fs::path parent_directory(const fs::path& path) {
    return path.has_parent_path() ? path.parent_path() : fs::path(".");
}

fs::path hidden_path(const fs::path& output, HiddenKind kind, long pid) {
    const fs::path directory = parent_directory(output);
    return directory /
           ("." + output.filename().string() + kind.infix + std::to_string(pid) + kind.suffix);
}

long hidden_file_owner(const std::string& name, const fs::path& output) {
    const std::string stem = "." + output.filename().string();
    for (const HiddenKind& kind : kHiddenKinds) {
        const std::string prefix = stem + kind.infix;
        const std::string suffix = kind.suffix;
        if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
            continue;
        }
        const std::string digits =
            name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
        if (digits.size() <= 9 && digits.find_first_not_of("0123456789") == std::string::npos) {
            return std::stol(digits);
        }
    }
    return 0;
}

namespace {

// Linux's largest PID (PID_MAX_LIMIT on 64-bit systems, 2^22): its decimal width bounds the
// PIDs in hidden names.
constexpr long kWidestPid = 4194304;

}  // namespace

void check_output_name(const fs::path& output) {
    const fs::path directory = parent_directory(output);
    const long limit = ::pathconf(directory.c_str(), _PC_NAME_MAX);
    const size_t name_max = limit > 0 ? static_cast<size_t>(limit) : NAME_MAX;
    std::string longest;
    for (const HiddenKind& kind : kHiddenKinds) {
        // Another run on this output may have a longer PID than this one.
        const std::string name = hidden_path(output, kind, kWidestPid).filename().string();
        longest = name.size() > longest.size() ? name : longest;
    }
    if (longest.size() > name_max) {
        const size_t name = output.filename().string().size();
        throw BadInput(
            output.string() + ": a name of " + std::to_string(name) +
            " bytes leaves no room for the hidden names embed writes beside it (such as " +
            longest.substr(0, 20) + "..." + longest.substr(longest.size() - 24) +
            "); this file system allows " + std::to_string(name_max) +
            " bytes: use a name of at most " + std::to_string(name_max - (longest.size() - name)));
    }
}

AtomicOutput::AtomicOutput(fs::path destination) : destination_(std::move(destination)) {
    const fs::path directory = parent_directory(destination_);
    if (!fs::is_directory(directory)) {
        throw std::runtime_error(destination_.string() + ": directory " + directory.string() +
                                 " does not exist");
    }
    if (fs::is_directory(destination_)) {
        throw std::runtime_error(destination_.string() + ": is a directory");
    }
    temporary_ = hidden_path(destination_, kPartial);
    const int fd = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        throw std::runtime_error(destination_.string() + ": cannot write in " + directory.string() +
                                 ": " + std::strerror(errno));
    }
    ::close(fd);
    signal_slot_ = register_partial(temporary_);
}

AtomicDirectory::AtomicDirectory(fs::path destination) : destination_(std::move(destination)) {
    temporary_ = hidden_path(destination_, kPartial);
    std::error_code error;
    fs::remove_all(temporary_, error);
    if (!fs::create_directory(temporary_, error)) {
        throw std::runtime_error(destination_.string() + ": cannot create " + temporary_.string() +
                                 ": " + error.message());
    }
}

AtomicDirectory::~AtomicDirectory() {
    if (!committed_) {
        std::error_code ignored;
        fs::remove_all(temporary_, ignored);
    }
}

namespace {

// Swaps the names of two existing files or directories in one step; false with errno set
// where the kernel or the file system cannot (ENOSYS, EINVAL).
bool exchange_names(const fs::path& a, const fs::path& b) {
#ifdef RENAME_EXCHANGE
    return ::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0;
#else
    errno = ENOSYS;  // a C library older than glibc 2.28 declares no renameat2
    return false;
#endif
}

}  // namespace

void AtomicDirectory::commit() {
    for (const fs::directory_entry& entry : fs::directory_iterator(temporary_)) {
        sync_file(entry.path());
    }
    sync_directory(temporary_);
    const bool replacing = fs::exists(fs::symlink_status(destination_));
    std::error_code error;
    // What is left to remove once the new output is in place: the old one.
    fs::path replaced;
    if (!replacing) {
        fs::rename(temporary_, destination_, error);
    } else if (exchange_names(temporary_, destination_)) {
        replaced = temporary_;
    } else if (errno == EINVAL || errno == ENOSYS) {
        // Linux before 3.15, and file systems that refuse RENAME_EXCHANGE (NFS, FUSE, ...): the
        // old output is moved aside, then the new one in. A crash between the two renames leaves
        // nothing at the destination and the old output in .NAME.partial-PID.replaced, which
        // the next run on this output removes (OutputLock).
        replaced = hidden_path(destination_, kReplaced);
        fs::rename(destination_, replaced, error);
        if (!error) {
            fs::rename(temporary_, destination_, error);
            if (error) {
                std::error_code ignored;
                fs::rename(replaced, destination_, ignored);  // the old output stays as it was
            }
        }
    } else {
        error = std::error_code(errno, std::generic_category());
    }
    if (error) {
        throw std::runtime_error(destination_.string() + ": cannot move the finished output into " +
                                 "place: " + error.message());
    }
    sync_directory(temporary_.parent_path());
    committed_ = true;
    if (!replaced.empty()) {
        // The new output is in place: what of the old one cannot be removed now is left to the
        // next run on this output, which removes what dead runs left (OutputLock).
        fs::remove_all(replaced, error);
    }
}

AtomicOutput::~AtomicOutput() {
    unregister_partial(signal_slot_);
    if (!committed_) {
        std::error_code ignored;
        fs::remove(temporary_, ignored);
    }
}

void AtomicOutput::commit() {
    sync_file(temporary_);
    std::error_code error;
    fs::rename(temporary_, destination_, error);
    if (error) {
        throw std::runtime_error(destination_.string() + ": cannot move the finished output into " +
                                 "place: " + error.message());
    }
    sync_directory(temporary_.parent_path());
    committed_ = true;
    unregister_partial(signal_slot_);
    signal_slot_ = -1;
}

TemporaryFile::TemporaryFile(fs::path path) : path_(std::move(path)) {
    // Registered first, so that no signal finds the file created but unknown to the handler.
    signal_slot_ = register_partial(path_);
    // Never through a link someone else planted under this name in a shared directory.
    ::unlink(path_.c_str());
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd_ < 0) {
        const int error = errno;
        unregister_partial(signal_slot_);
        throw std::runtime_error(path_.string() + ": cannot create: " + std::strerror(error));
    }
}

TemporaryFile::~TemporaryFile() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
    std::error_code ignored;
    fs::remove(path_, ignored);
    unregister_partial(signal_slot_);
}

void TemporaryFile::write(const char* data, size_t size) {
    while (size > 0) {
        const ssize_t written = ::write(fd_, data, size);
        if (written < 0 && errno == EINTR) {
            continue;
        }
        if (written < 0) {
            throw std::runtime_error(path_.string() + ": cannot write: " + std::strerror(errno));
        }
        data += written;
        size -= static_cast<size_t>(written);
    }
}

void TemporaryFile::close() {
    const int fd = std::exchange(fd_, -1);
    if (fd >= 0 && ::close(fd) != 0) {
        throw std::runtime_error(path_.string() + ": cannot write: " + std::strerror(errno));
    }
}

void remove_partial_outputs_on_interrupt() {
    for (const int signal_number : {SIGINT, SIGTERM, SIGHUP}) {
        std::signal(signal_number, remove_partials_and_reraise);
    }
}

int remove_on_interrupt(const fs::path& path) {
    return register_partial(path);
}

void keep_on_interrupt(int slot) {
    unregister_partial(slot);
}

void set_graceful_stop(bool enabled) {
    g_graceful_stop = enabled;
}

int stop_requested() {
    return g_stop_signal.load();
}

void sync_file(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
        const std::string reason = std::strerror(errno);
        if (fd >= 0) {
            ::close(fd);
        }
        throw std::runtime_error(path.string() + ": cannot sync to disk: " + reason);
    }
    ::close(fd);
}

void sync_directory(const fs::path& directory) {
    // Some file systems cannot sync a directory; the rename is then as durable as they allow.
    const int fd =
        ::open(directory.empty() ? "." : directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

}  // namespace embed
