// Running out of memory, told as one line: what was being done, how much did not fit and what
// to change, instead of LibTorch's allocator message under a 25-frame trace.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>

namespace embed {

/// An allocation that did not fit, described for a user.
class OutOfMemory : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// An allocation that failed: its size where the error tells it, and the device's memory it
/// was asked of.
struct FailedAllocation {
    std::optional<uint64_t> bytes;
    bool on_device = false;  ///< a GPU's memory, not the host's
};

/// The allocation `error` reports, when it is an allocation failure: LibTorch's CPU allocator
/// ("DefaultCPUAllocator: can't allocate memory: you tried to allocate N bytes"), its device
/// out-of-memory error, or std::bad_alloc. nullopt for any other error.
std::optional<FailedAllocation> failed_allocation(const std::exception& error);

/// For a catch block: rethrows the exception in flight, as OutOfMemory "out of memory <doing>:
/// <size> did not fit; <remedy>" when it is an allocation failure, unchanged otherwise.
/// `doing`: "loading X", "embedding protein P of L residues"; `remedy`: "use a smaller
/// --max-tokens, or more memory".
[[noreturn]] void rethrow_out_of_memory(const std::string& doing, const std::string& remedy);

}  // namespace embed
