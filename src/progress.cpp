#include "embed/progress.h"

#include <cstdio>
#include <unistd.h>

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

namespace embed {
namespace {

// A terminal bar is redrawn at most this often; batch logs get a line this often.
constexpr auto kTerminalInterval = std::chrono::milliseconds(200);
constexpr auto kLogInterval = std::chrono::seconds(30);
constexpr int kBarWidth = 30;

std::string duration(double seconds) {
    const auto s = static_cast<long>(seconds);
    return s >= 3600 ? fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60)
                     : fmt::format("{}m{:02}s", s / 60, s % 60);
}

}  // namespace

Progress::Progress(size_t total_proteins, int64_t total_residues)
    : total_proteins_(total_proteins),
      total_residues_(total_residues),
      terminal_(isatty(STDERR_FILENO) != 0),
      start_(Clock::now()),
      last_report_(start_) {}

void Progress::advance(size_t proteins, int64_t residues) {
    proteins_ += proteins;
    residues_ += residues;
    const auto now = Clock::now();
    if (now - last_report_ >= (terminal_ ? kTerminalInterval : kLogInterval)) {
        last_report_ = now;
        report();
    }
}

void Progress::finish() {
    if (terminal_) {
        std::fputs("\r\033[K", stderr);
        std::fflush(stderr);
    }
}

void Progress::report() {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const double fraction =
        total_residues_ > 0 ? static_cast<double>(residues_) / static_cast<double>(total_residues_)
                            : 1.0;
    const double rate = elapsed > 0 ? static_cast<double>(residues_) / elapsed : 0.0;
    const double remaining = rate > 0 ? static_cast<double>(total_residues_ - residues_) / rate : 0;
    if (terminal_) {
        const int filled = static_cast<int>(fraction * kBarWidth);
        std::fprintf(stderr, "\r\033[K[%s%s] %5.1f%%  %zu/%zu proteins  %.0f residues/s  ETA %s",
                     std::string(static_cast<size_t>(filled), '#').c_str(),
                     std::string(static_cast<size_t>(kBarWidth - filled), '.').c_str(),
                     100 * fraction, proteins_, total_proteins_, rate, duration(remaining).c_str());
        std::fflush(stderr);
    } else {
        spdlog::info("progress: {}/{} proteins, {:.1f}% of residues, {:.0f} residues/s, ETA {}",
                     proteins_, total_proteins_, 100 * fraction, rate, duration(remaining));
    }
}

}  // namespace embed
