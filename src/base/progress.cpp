#include "base/progress.h"

#include <algorithm>
#include <cstdio>
#include <unistd.h>

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include "base/text.h"

namespace embed {
namespace {

// A terminal bar is redrawn at most this often; batch logs get a line this often.
constexpr auto kTerminalInterval = std::chrono::milliseconds(200);
constexpr auto kLogInterval = std::chrono::seconds(30);
constexpr int kBarWidth = 30;
constexpr const char* kBytes = "B";

std::string duration(double seconds) {
    const auto s = static_cast<long>(seconds);
    return s >= 3600 ? fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60)
                     : fmt::format("{}m{:02}s", s / 60, s % 60);
}

}  // namespace

Progress::Progress(std::string label, int64_t total, std::string unit, size_t total_items,
                   std::string item_name)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      total_items_(total_items),
      item_name_(std::move(item_name)),
      terminal_(isatty(STDERR_FILENO) != 0),
      start_(Clock::now()),
      last_report_(start_) {}

void Progress::advance(int64_t amount, size_t items) {
    done_ += amount;
    items_done_ += items;
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

std::string Progress::amount(double value) const {
    if (unit_ != kBytes) {
        return fmt::format("{:.0f} {}", value, unit_);
    }
    return human_bytes(value);
}

void Progress::report() {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const double fraction =
        total_ > 0 ? std::clamp(static_cast<double>(done_) / static_cast<double>(total_), 0.0, 1.0)
                   : 1.0;
    const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
    const double remaining =
        rate > 0 ? std::max(0.0, static_cast<double>(total_ - done_)) / rate : 0;
    const std::string items =
        total_items_ > 0 ? fmt::format("{}/{} {}, ", items_done_, total_items_, item_name_) : "";
    const std::string line = fmt::format("{}: {}{:.1f}%, {}/s, ETA {}", label_, items,
                                         100 * fraction, amount(rate), duration(remaining));
    if (terminal_) {
        const int filled = static_cast<int>(fraction * kBarWidth);
        std::fprintf(
            stderr, "\r\033[K[%s%s] %s", std::string(static_cast<size_t>(filled), '#').c_str(),
            std::string(static_cast<size_t>(kBarWidth - filled), '.').c_str(), line.c_str());
        std::fflush(stderr);
    } else {
        spdlog::info("{}", line);
    }
}

}  // namespace embed
