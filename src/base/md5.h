// MD5 (RFC 1321). Not for security: some model files are published with MD5 sums only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace embed {

class Md5 {
public:
    Md5();
    void update(const void* data, size_t size);
    /// Lower-case hex digest; the object must not be updated afterwards.
    std::string hex_digest();

private:
    void compress(const uint8_t* block);

    std::array<uint32_t, 4> state_;
    std::array<uint8_t, 64> buffer_{};
    size_t buffered_ = 0;
    uint64_t total_bytes_ = 0;
};

/// The lower-case hex MD5 of `data`.
std::string md5_hex(std::string_view data);

}  // namespace embed
