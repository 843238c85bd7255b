// The CPU kernels written once over Vec<Isa> (kernels/cpu_kernels.h): every instruction set's
// variant this CPU runs, on the same inputs, computes bit for bit what the hand-written kernel of
// that instruction set computed before them. The digests below are of the outputs of the kernels
// as they were (commit f471556, GCC 12); the new ones give them with GCC 12 and Clang 14. A
// variant this CPU cannot run is left out.
#include <cstdint>
#include <iostream>
#include <map>
#include <vector>

#include <gtest/gtest.h>

#include <c10/util/BFloat16.h>

#include "kernels/cpu_kernels.h"

namespace embed {
namespace {

using kernels::Variants;

/// Reproducible floats in [low, high) from any standard library (std::uniform_real_distribution
/// differs between them): a 64-bit linear congruential generator's high bits.
class Numbers {
public:
    explicit Numbers(uint64_t seed) : state_(seed) {}

    std::vector<float> uniform(size_t n, float low, float high) {
        std::vector<float> values(n);
        for (float& x : values) {
            state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
            const auto bits = static_cast<uint32_t>(state_ >> 40);
            x = low + (high - low) * (static_cast<float>(bits) / 16777216.0f);
        }
        return values;
    }

private:
    uint64_t state_;
};

/// FNV-1a over the bytes of the outputs.
class Digest {
public:
    template <typename T>
    void add(const std::vector<T>& values) {
        const auto* bytes = reinterpret_cast<const unsigned char*>(values.data());
        for (size_t i = 0; i < values.size() * sizeof(T); ++i) {
            hash_ = (hash_ ^ bytes[i]) * 1099511628211ULL;
        }
    }
    uint64_t value() const { return hash_; }

private:
    uint64_t hash_ = 14695981039346656037ULL;
};

/// Checks every variant this CPU runs: digest_of(variant) against golden[its ISA].
template <typename Kernel, typename DigestOf>
void expect_as_before(const Variants<Kernel>& variants, const std::map<Isa, uint64_t>& golden,
                      DigestOf digest_of) {
    int checked = 0;
    for (const Isa isa : supported_isas()) {
        const Kernel kernel = variants[static_cast<size_t>(isa)];
        if (kernel == nullptr) {
            continue;
        }
        ASSERT_EQ(golden.count(isa), 1U) << isa_name(isa) << ": no digest of the kernel before";
        EXPECT_EQ(digest_of(kernel), golden.at(isa))
            << std::hex << "the " << isa_name(isa) << " variant computes other bits than before";
        ++checked;
    }
    std::cout << "[ variants ] " << checked << " checked on this CPU\n";
    EXPECT_NE(variants[static_cast<size_t>(Isa::kPortable)], nullptr);
}

// Row lengths: one and several vectors of 8 and 16, each with and without a partial one after.
constexpr int64_t kColumns[] = {1, 7, 8, 9, 15, 16, 17, 31, 33, 1000};

template <typename Out, typename Kernel>
uint64_t exponentials_digest(Kernel kernel) {
    Digest digest;
    for (const int64_t columns : kColumns) {
        const int64_t rows = 3;
        Numbers numbers(static_cast<uint64_t>(columns));
        std::vector<float> scores =
            numbers.uniform(static_cast<size_t>(rows * columns), -95.0f, 20.0f);
        scores[0] = -1e30f;  // below float's exponential
        std::vector<Out> out(scores.size());
        std::vector<float> sums(rows);
        kernel(scores.data(), rows, columns, out.data(), sums.data());
        digest.add(out);
        digest.add(sums);
    }
    return digest.value();
}

TEST(Kernels, RowExponentialsAreBitForBitThoseOfBefore) {
    expect_as_before(kernels::kRowExponentials, {{Isa::kPortable, 0x37339ad912d23941},
                                                {Isa::kAvx2, 0x0b33dc8f89609426},
                                                {Isa::kAvx512, 0x1172b5578e579056}},
                     exponentials_digest<float, kernels::RowExponentials>);
}

TEST(Kernels, RowExponentialsToBfloat16AreBitForBitThoseOfBefore) {
    expect_as_before(kernels::kRowExponentialsToBfloat16, {{Isa::kPortable, 0x945a5951b978c68f},
                                                          {Isa::kAvx512, 0xc8b9c354b46f1b07}},
                     exponentials_digest<c10::BFloat16, kernels::RowExponentialsToBfloat16>);
}

TEST(Kernels, LstmCellRowsAreBitForBitThoseOfBefore) {
    expect_as_before(kernels::kLstmCellRow, {{Isa::kPortable, 0xc876d8c9e45548b2}, {Isa::kAvx2, 0x33329dba01739198}}, [](kernels::LstmCellRow row) {
        Digest digest;
        // Cells in whole vectors and not, clipped and not.
        for (const int64_t cell : {1, 7, 8, 13, 1037}) {
            for (const float clip : {0.0f, 2.5f}) {
                Numbers numbers(static_cast<uint64_t>(cell) * 2 + (clip > 0 ? 1 : 0));
                const std::vector<float> gates =
                    numbers.uniform(static_cast<size_t>(4 * cell), -12.0f, 12.0f);
                std::vector<float> memory = numbers.uniform(static_cast<size_t>(cell), -4.0f, 4.0f);
                std::vector<float> hidden(static_cast<size_t>(cell));
                row(gates.data(), memory.data(), hidden.data(), cell, clip);
                digest.add(memory);
                digest.add(hidden);
            }
        }
        return digest.value();
    });
}

TEST(Kernels, PanelProductsAreBitForBitThoseOfBefore) {
    expect_as_before(kernels::kMultiplyPanel, {{Isa::kPortable, 0xccb763dfc03883fa}, {Isa::kAvx2, 0xc1bb71744fa0a425}}, [](kernels::MultiplyPanel multiply) {
        Digest digest;
        const int64_t inputs = 300;
        Numbers numbers(7);
        // Rows 303 floats apart.
        const std::vector<float> x =
            numbers.uniform(static_cast<size_t>(kernels::kTileRows * (inputs + 3)), -1.0f, 1.0f);
        const std::vector<float> panel =
            numbers.uniform(static_cast<size_t>(inputs * kernels::kPanelWidth), -1.0f, 1.0f);
        for (int64_t rows = 1; rows <= kernels::kTileRows; ++rows) {
            for (const bool accumulate : {false, true}) {
                std::vector<float> tile =
                    numbers.uniform(static_cast<size_t>(rows * kernels::kPanelWidth), -1.0f, 1.0f);
                multiply(x.data(), inputs + 3, rows, panel.data(), inputs, tile.data(), accumulate);
                digest.add(tile);
            }
        }
        return digest.value();
    });
}

// The token split had no entry point of its own before: the attention's outputs, which it feeds,
// were compared bit for bit before and after instead. Here its variants agree with each other
// (within rounding: the compiler fuses products where the instruction set has FMA).
TEST(Kernels, TokenSplitVariantsAgree) {
    const std::vector<kernels::SplitToken> variants = kernels::runnable(kernels::kSplitToken);
    std::vector<std::vector<float>> results;
    for (const kernels::SplitToken split : variants) {
        std::vector<float> all;
        // ESM-2's head widths, rotated (ESM-2) and not (ESM-1b).
        for (const int64_t d : {16, 64}) {
            for (const bool rotary : {false, true}) {
                const int64_t heads = 3;
                const int64_t tokens = 2;
                Numbers numbers(static_cast<uint64_t>(d) + (rotary ? 1 : 0));
                const std::vector<float> x =
                    numbers.uniform(static_cast<size_t>(tokens * 3 * heads * d), -3.0f, 3.0f);
                const std::vector<float> cos = numbers.uniform(static_cast<size_t>(d), -1.0f, 1.0f);
                const std::vector<float> sin = numbers.uniform(static_cast<size_t>(d), -1.0f, 1.0f);
                const int64_t head_stride = tokens * d;
                std::vector<float> qkv(static_cast<size_t>(3 * heads * head_stride));
                float* q = qkv.data();
                for (int64_t t = 0; t < tokens; ++t) {
                    split(x.data() + t * 3 * heads * d, heads, d, 0.125f,
                          rotary ? cos.data() : nullptr, rotary ? sin.data() : nullptr,
                          head_stride, q + t * d, q + heads * head_stride + t * d,
                          q + 2 * heads * head_stride + t * d);
                }
                all.insert(all.end(), qkv.begin(), qkv.end());
            }
        }
        results.push_back(all);
    }
    for (size_t v = 1; v < results.size(); ++v) {
        for (size_t i = 0; i < results[0].size(); ++i) {
            ASSERT_NEAR(results[v][i], results[0][i], 1e-6f) << "variant " << v << ", value " << i;
        }
    }
}

}  // namespace
}  // namespace embed
