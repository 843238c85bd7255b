// The benchmarks' clock: the mean time of one call, after a warm-up call.
#pragma once
#include <chrono>
#include <functional>

namespace embed::bench {

/// Calls `work` once to warm up, then repeatedly for at least `min_seconds` and
/// `min_repetitions` calls; the mean seconds per call.
inline double seconds_per_call(const std::function<void()>& work, double min_seconds,
                               int min_repetitions) {
    work();
    const auto start = std::chrono::steady_clock::now();
    int repetitions = 0;
    double seconds = 0;
    while (seconds < min_seconds || repetitions < min_repetitions) {
        work();
        ++repetitions;
        seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    return seconds / repetitions;
}

}  // namespace embed::bench
