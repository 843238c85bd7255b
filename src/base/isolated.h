// Work on untrusted files done in a child process, for libraries that may crash on them.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

namespace embed {

/// The child process ended by a signal, or without an answer (as after a sanitizer's report).
/// what(): "crashed (Segmentation fault)", "ended without an answer (exit status 1)".
class ChildCrashed : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// CPU seconds a child reading a file of `bytes` may take: far more than reading it needs (10 s,
/// and a second per MB), so that only a library looping on damaged bytes reaches it.
unsigned cpu_seconds_to_read(uint64_t bytes);

/// Runs `work` in a forked child process and returns the bytes it returns. An exception it
/// throws comes back as std::runtime_error with its message; a crash as ChildCrashed, as does
/// running past `cpu_seconds` (0: no limit) of CPU time. The child has no other threads: `work`
/// must not wait on them, nor on a lock another thread may hold when this is called (see
/// h5::calls_mutex).
std::string run_isolated(const std::function<std::string()>& work, unsigned cpu_seconds = 0);

}  // namespace embed
