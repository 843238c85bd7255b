// Progress on stderr: a bar redrawn in place on a terminal, a plain line every 30 seconds in
// batch logs (Slurm output files), so neither floods nor stays silent.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace embed {

class Progress {
public:
    /// Work of `total` units ("residues", or "B" for bytes, shown as KB/MB/GB), optionally
    /// also counted in items ("proteins"). `label` says what is being done.
    Progress(std::string label, int64_t total, std::string unit, size_t total_items = 0,
             std::string item_name = {});
    void advance(int64_t amount, size_t items = 0);
    /// Clears the bar (on a terminal) so that what follows starts on a clean line.
    void finish();

private:
    void report();
    std::string amount(double value) const;

    using Clock = std::chrono::steady_clock;
    std::string label_;
    int64_t total_;
    std::string unit_;
    size_t total_items_;
    std::string item_name_;
    int64_t done_ = 0;
    size_t items_done_ = 0;
    bool terminal_;
    Clock::time_point start_;
    Clock::time_point last_report_;
};

}  // namespace embed
