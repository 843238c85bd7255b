// Message digests from OpenSSL: SHA-256 records which checkpoint and which input produced an
// output file and verifies downloads; MD5 keys sequences as bio_embeddings does and checks the
// model files that are published with MD5 sums only (not for security).
#pragma once

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

// OpenSSL's context type, so that this header does not pull in OpenSSL's.
struct evp_md_ctx_st;

namespace embed {

/// A streaming digest: update() with the bytes in order, then hex() once.
class Digest {
public:
    enum class Algorithm { sha256, md5 };

    /// Throws std::runtime_error when OpenSSL cannot provide the algorithm.
    explicit Digest(Algorithm algorithm);
    void update(const void* data, size_t size);
    void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
    /// Lower-case hex digest of the bytes so far; the object must not be updated afterwards.
    std::string hex();

private:
    struct FreeContext {
        void operator()(evp_md_ctx_st* context) const;
    };

    Algorithm algorithm_;
    std::unique_ptr<evp_md_ctx_st, FreeContext> context_;
};

/// The lower-case hex MD5 of `data`.
std::string md5_hex(std::string_view data);

/// Hex SHA-256 of the files' bytes, concatenated in order; throws std::runtime_error naming
/// the file on I/O errors. When `cancel` becomes true it stops early and returns "".
std::string sha256_files(const std::vector<std::filesystem::path>& files,
                         const std::atomic<bool>* cancel = nullptr);

}  // namespace embed
