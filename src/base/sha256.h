// SHA-256 (FIPS 180-4), used to record which checkpoint produced an output file.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace embed {

class Sha256 {
public:
    /// How the blocks are compressed: the CPU's SHA instructions where it has them (x86-64's
    /// SHA extensions: 4-5 times faster, which matters for a checkpoint of gigabytes), or
    /// portable C++.
    enum class Engine { fastest, portable };

    explicit Sha256(Engine engine = Engine::fastest);
    void update(const void* data, size_t size);
    /// Lower-case hex digest; the object must not be updated afterwards.
    std::string hex_digest();

    /// Whether Engine::fastest uses the CPU's SHA instructions.
    static bool has_sha_instructions();

private:
    void compress(const uint8_t* blocks, size_t count);

    bool sha_instructions_;
    std::array<uint32_t, 8> state_;
    std::array<uint8_t, 64> buffer_{};
    size_t buffered_ = 0;
    uint64_t total_bytes_ = 0;
};

/// Hex SHA-256 of the files' bytes, concatenated in order; throws std::runtime_error naming
/// the file on I/O errors. When `cancel` becomes true it stops early and returns "".
std::string sha256_files(const std::vector<std::filesystem::path>& files,
                         const std::atomic<bool>* cancel = nullptr);

}  // namespace embed
