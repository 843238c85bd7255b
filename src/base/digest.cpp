#include "base/digest.h"

#include <cstdio>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdexcept>

#include "base/text.h"

namespace embed {
namespace {

const char* name_of(Digest::Algorithm algorithm) {
    return algorithm == Digest::Algorithm::sha256 ? "SHA-256" : "MD5";
}

// OpenSSL's reason for the last failure, for the error message.
[[noreturn]] void fail(Digest::Algorithm algorithm, const char* step) {
    char reason[256] = "unknown reason";
    if (const unsigned long code = ERR_get_error(); code != 0) {
        ERR_error_string_n(code, reason, sizeof reason);
    }
    ERR_clear_error();
    throw std::runtime_error(std::string(name_of(algorithm)) + ": OpenSSL's " + step +
                             " failed: " + reason);
}

}  // namespace

void Digest::FreeContext::operator()(evp_md_ctx_st* context) const {
    EVP_MD_CTX_free(context);
}

Digest::Digest(Algorithm algorithm) : algorithm_(algorithm), context_(EVP_MD_CTX_new()) {
    if (!context_) {
        fail(algorithm_, "EVP_MD_CTX_new");
    }
    const EVP_MD* md = algorithm == Algorithm::sha256 ? EVP_sha256() : EVP_md5();
    if (md == nullptr || EVP_DigestInit_ex(context_.get(), md, nullptr) != 1) {
        fail(algorithm_, "EVP_DigestInit_ex");
    }
}

void Digest::update(const void* data, size_t size) {
    if (EVP_DigestUpdate(context_.get(), data, size) != 1) {
        fail(algorithm_, "EVP_DigestUpdate");
    }
}

std::string Digest::hex() {
    unsigned char bytes[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(context_.get(), bytes, &size) != 1) {
        fail(algorithm_, "EVP_DigestFinal_ex");
    }
    std::string out;
    out.reserve(2 * size);
    for (unsigned int i = 0; i < size; ++i) {
        out += hex_byte(bytes[i]);
    }
    return out;
}

std::string md5_hex(std::string_view data) {
    Digest md5(Digest::Algorithm::md5);
    md5.update(data);
    return md5.hex();
}

std::string sha256_files(const std::vector<std::filesystem::path>& files,
                         const std::atomic<bool>* cancel) {
    constexpr size_t kChunk = 1 << 20;
    Digest hash(Digest::Algorithm::sha256);
    std::vector<char> chunk(kChunk);
    for (const std::filesystem::path& path : files) {
        std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
        if (!file) {
            throw std::runtime_error(path.string() + ": cannot open for checksumming");
        }
        size_t got = 0;
        while ((got = std::fread(chunk.data(), 1, chunk.size(), file.get())) > 0) {
            if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
                return {};
            }
            hash.update(chunk.data(), got);
        }
        if (std::ferror(file.get())) {
            throw std::runtime_error(path.string() + ": read error while checksumming");
        }
    }
    return hash.hex();
}

}  // namespace embed
