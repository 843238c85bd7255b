// Progress on stderr: a bar redrawn in place on a terminal, plain periodic lines in batch logs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace embed {

class Progress {
public:
    Progress(size_t total_proteins, int64_t total_residues);
    void advance(size_t proteins, int64_t residues);
    /// Clears the bar (on a terminal) so that the summary that follows starts on a clean line.
    void finish();

private:
    void report();

    using Clock = std::chrono::steady_clock;
    size_t total_proteins_;
    int64_t total_residues_;
    size_t proteins_ = 0;
    int64_t residues_ = 0;
    bool terminal_;
    Clock::time_point start_;
    Clock::time_point last_report_;
};

}  // namespace embed
