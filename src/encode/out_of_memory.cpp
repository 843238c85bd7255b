#include "encode/out_of_memory.h"

#include <new>

#include <c10/util/Exception.h>

#include "base/text.h"

namespace embed {
namespace {

// How LibTorch's CPU allocator names itself, and says how much it was asked for.
constexpr const char* kCpuAllocator = "DefaultCPUAllocator";
constexpr const char* kCpuAllocatorSays = "you tried to allocate ";

std::optional<uint64_t> bytes_after(const std::string& message, const std::string& prefix) {
    const size_t at = message.find(prefix);
    if (at == std::string::npos) {
        return std::nullopt;
    }
    uint64_t bytes = 0;
    size_t i = at + prefix.size();
    if (i >= message.size() || message[i] < '0' || message[i] > '9') {
        return std::nullopt;
    }
    for (; i < message.size() && message[i] >= '0' && message[i] <= '9'; ++i) {
        bytes = bytes * 10 + static_cast<uint64_t>(message[i] - '0');
    }
    return bytes;
}

}  // namespace

std::optional<FailedAllocation> failed_allocation(const std::exception& error) {
    if (dynamic_cast<const std::bad_alloc*>(&error) != nullptr) {
        return FailedAllocation{};
    }
    const auto* torch_error = dynamic_cast<const c10::Error*>(&error);
    if (torch_error == nullptr) {
        return std::nullopt;
    }
    // The CPU allocator's error is a plain c10::Error in LibTorch 1.13 and may be an
    // OutOfMemoryError in other releases: its text tells it from a device's.
    const std::string& message = torch_error->msg();
    if (message.find(kCpuAllocator) != std::string::npos) {
        return FailedAllocation{bytes_after(message, kCpuAllocatorSays), false};
    }
    if (dynamic_cast<const c10::OutOfMemoryError*>(&error) != nullptr) {
        return FailedAllocation{std::nullopt, true};
    }
    return std::nullopt;
}

void rethrow_out_of_memory(const std::string& doing, const std::string& remedy) {
    try {
        throw;
    } catch (const std::exception& e) {
        const std::optional<FailedAllocation> failed = failed_allocation(e);
        if (!failed) {
            throw;
        }
        const std::string memory = failed->on_device ? "device memory" : "memory";
        const std::string what =
            failed->bytes ? "an allocation of " + human_bytes(static_cast<double>(*failed->bytes))
                          : "an allocation";
        throw OutOfMemory("out of " + memory + " " + doing + ": " + what + " did not fit; " +
                          remedy);
    }
}

}  // namespace embed
