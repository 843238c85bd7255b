#include "base/isolated.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace embed {
namespace {

// The child's answer starts with one of these.
constexpr char kResult = 'R';
constexpr char kError = 'E';

void write_all(int fd, const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t wrote = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (wrote < 0 && errno == EINTR) {
            continue;
        }
        if (wrote <= 0) {
            return;  // the parent is gone
        }
        done += static_cast<size_t>(wrote);
    }
}

std::string read_all(int fd) {
    std::string out;
    char buffer[1 << 16];
    while (true) {
        const ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return out;
        }
        out.append(buffer, static_cast<size_t>(got));
    }
}

[[noreturn]] void answer_and_exit(int fd, const std::function<std::string()>& work) {
    std::string answer;
    try {
        answer = kResult + work();
    } catch (const std::exception& e) {
        answer = kError + std::string(e.what());
    } catch (...) {
        answer = kError + std::string("unknown error");
    }
    write_all(fd, answer);
    // Neither destructors of static objects nor atexit handlers: they belong to the parent.
    ::_exit(0);
}

}  // namespace

unsigned cpu_seconds_to_read(uint64_t bytes) {
    constexpr unsigned kSeconds = 10;
    constexpr uint64_t kBytesPerSecond = uint64_t{1} << 20;
    return kSeconds + static_cast<unsigned>(bytes / kBytesPerSecond);
}

std::string run_isolated(const std::function<std::string()>& work, unsigned cpu_seconds) {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) {
        throw std::runtime_error(std::string("cannot create a pipe: ") + std::strerror(errno));
    }
    const pid_t child = ::fork();
    if (child < 0) {
        const int error = errno;
        ::close(ends[0]);
        ::close(ends[1]);
        throw std::runtime_error(std::string("cannot start a process: ") + std::strerror(error));
    }
    if (child == 0) {
        ::close(ends[0]);
        if (cpu_seconds > 0) {
            // SIGXCPU at the soft limit ends the child (libhdf5 loops forever on some damaged
            // files); SIGKILL a second later if it ignores that.
            const rlimit limit{cpu_seconds, cpu_seconds + 1};
            ::setrlimit(RLIMIT_CPU, &limit);
        }
        answer_and_exit(ends[1], work);
    }
    ::close(ends[1]);
    std::string reply = read_all(ends[0]);
    ::close(ends[0]);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) {
            throw std::runtime_error(std::string("lost a child process: ") + std::strerror(errno));
        }
    }
    if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGXCPU || WTERMSIG(status) == SIGKILL) &&
        cpu_seconds > 0) {
        throw ChildCrashed("ran past its limit of " + std::to_string(cpu_seconds) + " CPU seconds");
    }
    if (WIFSIGNALED(status)) {
        throw ChildCrashed(std::string("crashed (") + ::strsignal(WTERMSIG(status)) + ")");
    }
    if (reply.empty() || WEXITSTATUS(status) != 0) {
        throw ChildCrashed("ended without an answer (exit status " +
                           std::to_string(WEXITSTATUS(status)) + ")");
    }
    if (reply[0] == kError) {
        throw std::runtime_error(reply.substr(1));
    }
    return reply.substr(1);
}

}  // namespace embed
