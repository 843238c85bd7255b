// Between stages 1 and 2 on clusters: which proteins this process embeds when a job array
// splits the input. Shards are contiguous runs of the input with about equal residues, so
// they take about equal time, and every process decides the same way without talking.
#pragma once

#include <cstdint>
#include <string>

namespace embed {

struct Shard {
    int64_t index = 1;  ///< 1-based
    int64_t count = 1;

    /// Whether the protein of `length` residues that starts after `residues_before` residues
    /// of the input (of `total_residues`) belongs to this shard: the one its middle falls in.
    bool contains(int64_t residues_before, int64_t length, int64_t total_residues) const;
};

/// "I/N" (1 <= I <= N), or "auto": from SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT, or
/// SLURM_ARRAY_TASK_MIN/MAX. Throws BadInput saying what is wrong.
Shard parse_shard(const std::string& spec);

/// --threads by default: SLURM_CPUS_PER_TASK when set, else the CPUs this process may use.
int default_threads();

}  // namespace embed
