// How many CPUs this process may use.
#pragma once

namespace embed {

/// CPUs this process may run on (its affinity mask, which Slurm and taskset set).
int available_cpus();

}  // namespace embed
