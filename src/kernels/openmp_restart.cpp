// OpenMP threads that spin after each parallel region starve OpenBLAS's own thread pool of CPU:
// on 2 cores the ELMo LSTM ran 3.4 times slower. libgomp reads OMP_WAIT_POLICY in its
// initialiser, before main(), so when it is unset the process restarts itself with PASSIVE.
// This runs from .preinit_array, before any library's initialiser: the restart costs the
// mapping of the libraries only. A user's own OMP_WAIT_POLICY is left as it is.
#include <cstring>
#include <unistd.h>

#include <climits>

#if defined(__GLIBC__) && defined(__linux__)

namespace {

constexpr char kPolicyVariable[] = "OMP_WAIT_POLICY=";
constexpr const char* kPassivePolicy = "OMP_WAIT_POLICY=PASSIVE";
constexpr size_t kMaxEnvironment = 4096;

// Started as `ld-linux-x86-64.so.2 embed ...`, /proc/self/exe is the loader, which would read
// the program's own arguments as its options.
bool started_by_the_dynamic_loader() {
    char executable[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", executable, sizeof executable - 1);
    if (n <= 0) {
        return true;  // cannot tell: do not restart
    }
    executable[n] = '\0';
    const char* slash = std::strrchr(executable, '/');
    return std::strncmp(slash != nullptr ? slash + 1 : executable, "ld-", 3) == 0;
}

void restart_with_passive_openmp_threads(int, char** argv, char** envp) {
    static const char* environment[kMaxEnvironment + 2];
    size_t n = 0;
    for (; envp[n] != nullptr; ++n) {
        if (n == kMaxEnvironment ||
            std::strncmp(envp[n], kPolicyVariable, sizeof kPolicyVariable - 1) == 0) {
            return;  // set by the user (or too much to copy): leave it be
        }
        environment[n] = envp[n];
    }
    if (started_by_the_dynamic_loader()) {
        return;
    }
    environment[n] = kPassivePolicy;
    environment[n + 1] = nullptr;
    ::execve("/proc/self/exe", argv, const_cast<char* const*>(environment));
    // If the restart is impossible, run on with the default policy.
}

[[maybe_unused]] __attribute__((section(".preinit_array"), used)) void (*const kRestart)(
    int, char**, char**) = &restart_with_passive_openmp_threads;

}  // namespace

#endif
