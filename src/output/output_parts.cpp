#include "output/output_parts.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "base/errors.h"
#include "base/file.h"

namespace embed {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPartPrefix = "part-";
constexpr const char* kPartSuffix = ".h5";
constexpr const char* kTemporarySuffix = ".tmp";

std::string part_name(size_t number) {
    char name[32];
    std::snprintf(name, sizeof name, "%s%06zu%s", kPartPrefix, number, kPartSuffix);
    return name;
}

// The number of a committed part's file name, or 0 for anything else.
size_t part_number(const std::string& name) {
    const std::string prefix = kPartPrefix;
    const std::string suffix = kPartSuffix;
    if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
        return 0;
    }
    const std::string digits =
        name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos) {
        return 0;
    }
    return std::stoul(digits);
}

// How long a run that finds the lock taken waits for its holder to write "PID host" in it (the
// holder writes it just after taking the lock).
constexpr int kHolderReadTries = 50;
constexpr auto kHolderReadPause = std::chrono::milliseconds(20);

std::string host_name() {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0) {
        return "an unknown host";
    }
    return name;
}

// "PID host" as the lock's holder wrote it, or empty.
std::string lock_holder(const fs::path& lock_file) {
    for (int attempt = 0; attempt < kHolderReadTries; ++attempt) {
        std::string text;
        try {
            text = read_text_file(lock_file);
        } catch (const std::runtime_error&) {
            return "";  // released and removed meanwhile
        }
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
            text.pop_back();
        }
        if (!text.empty()) {
            return text;
        }
        std::this_thread::sleep_for(kHolderReadPause);
    }
    return "";
}

// Whether `path` still names the file open as `fd` (a run that held the lock removes the file
// before releasing it: a lock taken on a removed file keeps nobody else out).
bool names_open_file(const fs::path& path, int fd) {
    struct stat open_file {};
    struct stat named {};
    return ::fstat(fd, &open_file) == 0 && ::stat(path.c_str(), &named) == 0 &&
           open_file.st_dev == named.st_dev && open_file.st_ino == named.st_ino;
}

}  // namespace

fs::path OutputLock::file_of(const fs::path& output) {
    const fs::path directory = parent_directory(output);
    return directory / ("." + output.filename().string() + ".lock");
}

OutputLock::OutputLock(const fs::path& output) : path_(file_of(output)) {
    while (true) {
        const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0) {
            const int error = errno;
            if (error == ENOENT) {
                throw std::runtime_error(output.string() + ": directory " +
                                         path_.parent_path().string() + " does not exist");
            }
            throw std::runtime_error(output.string() + ": cannot create the lock file " +
                                     path_.string() + ": " + std::strerror(error));
        }
        struct flock whole {};
        whole.l_type = F_WRLCK;
        whole.l_whence = SEEK_SET;
        // Locks of the open file, not of the process: no other descriptor of the file that
        // the process opens and closes can release it. Kernels before 3.15 know only
        // process locks, which serve as well here.
        int locked = ::fcntl(fd, F_OFD_SETLK, &whole);
        if (locked != 0 && errno == EINVAL) {
            locked = ::fcntl(fd, F_SETLK, &whole);
        }
        if (locked != 0) {
            const int error = errno;
            ::close(fd);
            if (error == EAGAIN || error == EACCES) {
                const std::string holder = lock_holder(path_);
                throw BadInput(
                    output.string() + " is being written by another run (" +
                    (holder.empty() ? "which has not yet recorded its PID and host"
                                    : "PID and host: " + holder) +
                    ", lock " + path_.string() +
                    "); one run per output at a time: wait for it to end, or write elsewhere");
            }
            if (error == ENOLCK || error == ENOSYS || error == EOPNOTSUPP) {
                spdlog::warn(
                    "{}: the file system refuses locks ({}): nothing keeps a second run off {} "
                    "meanwhile (Lustre: mount with -o flock)",
                    path_.string(), std::strerror(error), output.string());
                std::error_code ignored;
                fs::remove(path_, ignored);
                return;
            }
            throw std::runtime_error(path_.string() + ": cannot lock: " + std::strerror(error));
        }
        if (names_open_file(path_, fd)) {
            fd_ = fd;
            break;
        }
        ::close(fd);  // its holder removed it before releasing it: lock the new one
    }
    signal_slot_ = remove_on_interrupt(path_);
    const std::string holder = std::to_string(::getpid()) + " " + host_name() + "\n";
    if (::ftruncate(fd_, 0) != 0 ||
        ::pwrite(fd_, holder.data(), holder.size(), 0) != static_cast<ssize_t>(holder.size())) {
        spdlog::warn("{}: cannot record this run's PID and host: {}", path_.string(),
                     std::strerror(errno));
    }
    remove_dead_runs_files(output);
}

OutputLock::~OutputLock() {
    if (fd_ < 0) {
        return;
    }
    // Removed while still locked: a run that opened it meanwhile sees, once it has the lock,
    // that the name is gone, and locks a new file.
    keep_on_interrupt(signal_slot_);
    ::unlink(path_.c_str());
    ::close(fd_);
}

void OutputLock::remove_dead_runs_files(const fs::path& output) const {
    const fs::path directory = path_.parent_path();
    std::error_code error;
    for (fs::directory_iterator entry(directory, error), end; !error && entry != end;
         entry.increment(error)) {
        const std::string name = entry->path().filename().string();
        const auto pid = static_cast<pid_t>(hidden_file_owner(name, output));
        if (pid <= 0 || pid == ::getpid()) {
            continue;
        }
        // The lock says no live run writes this output (on any host, where the file system's
        // locks reach across hosts); the PID guards where they do not: a process of that PID
        // alive here (perhaps another one, the PID reused) keeps its files.
        if (::kill(pid, 0) == 0 || errno != ESRCH) {
            spdlog::info("{} is left as it is: process {} is running on this host",
                         entry->path().string(), pid);
            continue;
        }
        std::error_code removed;
        const auto count = fs::remove_all(entry->path(), removed);
        if (removed) {
            spdlog::warn("cannot remove {}, left by an earlier run (process {}) that ended: {}",
                         entry->path().string(), pid, removed.message());
        } else if (count > 0) {
            spdlog::info("removed {}, left by an earlier run (process {}) that ended",
                         entry->path().string(), pid);
        }
    }
}

fs::path OutputParts::directory_of(const fs::path& output) {
    return fs::path(output.string() + ".parts");
}

OutputParts::OutputParts(const OutputLock& /*lock*/, const fs::path& output, bool resume,
                         bool overwrite)
    : directory_(directory_of(output)) {
    if (!fs::exists(directory_)) {
        return;
    }
    // Under the lock, a temporary is the part in progress of a run that died.
    for (const auto& entry : fs::directory_iterator(directory_)) {
        if (entry.path().extension() == kTemporarySuffix) {
            fs::remove(entry.path());
        }
    }
    const std::vector<fs::path> parts = committed();
    if (parts.empty()) {
        fs::remove_all(directory_);  // nothing to resume: left by a run that saved nothing
        return;
    }
    if (!resume) {
        if (!overwrite) {
            throw BadInput(directory_.string() +
                           " holds the work of an unfinished run: add --resume to " +
                           "continue it, or --overwrite to start again");
        }
        fs::remove_all(directory_);
        return;
    }
    next_number_ = part_number(parts.back().filename().string()) + 1;
}

std::vector<fs::path> OutputParts::committed() const {
    std::vector<fs::path> parts;
    if (!fs::exists(directory_)) {
        return parts;
    }
    for (const auto& entry : fs::directory_iterator(directory_)) {
        if (part_number(entry.path().filename().string()) > 0) {
            parts.push_back(entry.path());
        }
    }
    std::sort(parts.begin(), parts.end());
    return parts;
}

fs::path OutputParts::next_temporary() {
    // Made with the first part, so that a run that fails before writing one leaves none.
    fs::create_directories(directory_);
    return directory_ / (part_name(next_number_++) + kTemporarySuffix);
}

void OutputParts::commit(const fs::path& temporary) {
    sync_file(temporary);
    fs::path final_name = temporary;
    final_name.replace_extension();
    fs::rename(temporary, final_name);
    sync_directory(directory_);
}

void OutputParts::remove() {
    fs::remove_all(directory_);
}

}  // namespace embed
