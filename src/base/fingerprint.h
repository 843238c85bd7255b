// 128-bit fingerprints of strings, and a compact set of them: how a run of tens of millions of
// proteins remembers which ids and sequences it has seen in 24 bytes each, not the strings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace embed {

struct Fingerprint {
    uint64_t high = 0;
    uint64_t low = 0;
    bool operator==(const Fingerprint& other) const {
        return high == other.high && low == other.low;
    }
};

/// Two independent 64-bit hashes of `text`; distinct strings collide with probability 2^-128.
Fingerprint fingerprint(std::string_view text);

/// An open-addressing map from fingerprints to small values; grows by doubling.
class FingerprintMap {
public:
    /// Inserts (key, value) unless `key` is present; returns the stored value and whether it
    /// was inserted.
    std::pair<uint64_t, bool> emplace(const Fingerprint& key, uint64_t value);
    /// Makes room for `count` keys at once. A table that grows while other memory is allocated
    /// and freed around it leaves holes in the heap at each doubling.
    void reserve(size_t count);
    /// The value stored for `key`, or nullptr.
    const uint64_t* find(const Fingerprint& key) const;
    size_t size() const { return size_; }

private:
    struct Slot {
        Fingerprint key;  ///< {0, 0}: empty (fingerprint() never returns it)
        uint64_t value = 0;
    };
    void grow();
    void rehash(size_t slots);
    size_t slot_of(const Fingerprint& key) const;

    std::vector<Slot> slots_;
    size_t size_ = 0;
};

}  // namespace embed
