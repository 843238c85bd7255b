#include "input/sharding.h"

#include <cstdlib>
#include <optional>
#include <stdexcept>

#include "base/cpus.h"
#include "base/errors.h"

namespace embed {
namespace {

std::optional<int64_t> integer(const std::string& text) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
        text.size() > 12) {
        return std::nullopt;
    }
    return std::stoll(text);
}

std::optional<int64_t> environment_integer(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr ? integer(value) : std::nullopt;
}

Shard checked(int64_t index, int64_t count, const std::string& spec) {
    if (count < 1 || index < 1 || index > count) {
        throw BadInput("--shard " + spec + ": shard " + std::to_string(index) + " of " +
                       std::to_string(count) + " does not exist (shards are 1/N to N/N)");
    }
    return Shard{index, count};
}

}  // namespace

bool Shard::contains(int64_t residues_before, int64_t length, int64_t total_residues) const {
    if (count == 1 || total_residues <= 0) {
        return true;
    }
    // The middle of the protein, in half residues, scaled to shards. Fits in 64 bits for any
    // input below 10^13 residues split into up to 10^5 shards.
    const int64_t middle = 2 * residues_before + length;
    const int64_t shard = middle * count / (2 * total_residues);
    return std::min(shard, count - 1) + 1 == index;
}

Shard parse_shard(const std::string& spec) {
    if (spec == "auto") {
        const std::optional<int64_t> task = environment_integer("SLURM_ARRAY_TASK_ID");
        if (!task) {
            throw BadInput("--shard auto: SLURM_ARRAY_TASK_ID is not set (not a Slurm array job?)");
        }
        const int64_t first = environment_integer("SLURM_ARRAY_TASK_MIN").value_or(0);
        std::optional<int64_t> count = environment_integer("SLURM_ARRAY_TASK_COUNT");
        if (const std::optional<int64_t> last = environment_integer("SLURM_ARRAY_TASK_MAX");
            last && !count) {
            count = *last - first + 1;
        }
        if (!count) {
            throw BadInput(
                "--shard auto: neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX is set");
        }
        return checked(*task - first + 1, *count, spec);
    }
    const size_t slash = spec.find('/');
    const std::optional<int64_t> index =
        slash == std::string::npos ? std::nullopt : integer(spec.substr(0, slash));
    const std::optional<int64_t> count =
        slash == std::string::npos ? std::nullopt : integer(spec.substr(slash + 1));
    if (!index || !count) {
        throw BadInput("--shard " + spec + ": expected I/N, such as 2/10, or auto");
    }
    return checked(*index, *count, spec);
}

int default_threads() {
    if (const std::optional<int64_t> cpus = environment_integer("SLURM_CPUS_PER_TASK");
        cpus && *cpus > 0) {
        return static_cast<int>(std::min<int64_t>(*cpus, available_cpus()));
    }
    return available_cpus();
}

}  // namespace embed
