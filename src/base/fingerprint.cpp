#include "base/fingerprint.h"

namespace embed {
namespace {

constexpr size_t kInitialSlots = 1024;

// FNV-1a with two different offset bases and a final avalanche (splitmix64's), so the halves
// are independent enough for a 128-bit fingerprint.
uint64_t mix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t fnv1a(std::string_view text, uint64_t basis) {
    uint64_t hash = basis;
    for (const char c : text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 0x100000001b3ULL;
    }
    return mix(hash ^ text.size());
}

}  // namespace

Fingerprint fingerprint(std::string_view text) {
    Fingerprint f{fnv1a(text, 0xcbf29ce484222325ULL), fnv1a(text, 0x84222325cbf29ce4ULL)};
    if (f == Fingerprint{}) {
        f.low = 1;  // {0, 0} marks an empty slot
    }
    return f;
}

size_t FingerprintMap::slot_of(const Fingerprint& key) const {
    // Linear probing: the key's slot, or the empty one that ends its run.
    const size_t mask = slots_.size() - 1;
    size_t i = key.low & mask;
    while (!(slots_[i].key == Fingerprint{} || slots_[i].key == key)) {
        i = (i + 1) & mask;
    }
    return i;
}

std::pair<uint64_t, bool> FingerprintMap::emplace(const Fingerprint& key, uint64_t value) {
    // Probing stays short up to three quarters full.
    if (4 * (size_ + 1) > 3 * slots_.size()) {
        grow();
    }
    Slot& slot = slots_[slot_of(key)];
    if (slot.key == key) {
        return {slot.value, false};
    }
    slot = Slot{key, value};
    ++size_;
    return {value, true};
}

const uint64_t* FingerprintMap::find(const Fingerprint& key) const {
    if (slots_.empty()) {
        return nullptr;
    }
    const Slot& slot = slots_[slot_of(key)];
    return slot.key == key ? &slot.value : nullptr;
}

void FingerprintMap::reserve(size_t count) {
    size_t slots = slots_.empty() ? kInitialSlots : slots_.size();
    while (4 * count > 3 * slots) {
        slots *= 2;
    }
    if (slots > slots_.size()) {
        rehash(slots);
    }
}

void FingerprintMap::grow() {
    rehash(slots_.empty() ? kInitialSlots : 2 * slots_.size());
}

void FingerprintMap::rehash(size_t slots) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(slots, Slot{});
    size_ = 0;
    for (const Slot& slot : old) {
        if (!(slot.key == Fingerprint{})) {
            emplace(slot.key, slot.value);
        }
    }
}

}  // namespace embed
