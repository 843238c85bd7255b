// The instruction sets the CPU kernels are compiled for (kernels/cpu_kernels.h): which the build
// holds kernels for, and which the CPU running the program has.
#pragma once

#include <cstddef>
#include <vector>

// EMBED_X86_KERNELS: set by src/kernels/CMakeLists.txt where it compiles the AVX2 and AVX-512
// kernels (x86-64 with GCC or Clang).
#ifdef EMBED_X86_KERNELS
#define EMBED_HAVE_AVX2_KERNELS 1
#define EMBED_HAVE_AVX512_KERNELS 1
#endif

namespace embed {

/// The instruction sets a kernel may be compiled for, slowest first.
enum class Isa {
    kPortable,  ///< plain C++, one float at a time
    kAvx2,      ///< AVX2 and FMA, eight floats
    kAvx512,    ///< AVX-512 F, BW, DQ, VL and BF16, sixteen floats
};
constexpr size_t kIsas = 3;

/// "portable", "AVX2", "AVX-512".
const char* isa_name(Isa isa);

/// The instruction sets this CPU runs that the build holds kernels for, fastest first: always
/// ends with kPortable (asked once).
const std::vector<Isa>& supported_isas();

/// Whether this CPU has AVX2 and FMA (asked once).
inline bool cpu_has_avx2_fma() {
#if defined(__x86_64__) && defined(__GNUC__)
    static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return has;
#else
    return false;
#endif
}

/// Whether this CPU has AVX-512's Skylake-X subsets (F, BW, DQ, VL; asked once).
inline bool cpu_has_avx512() {
#if defined(__x86_64__) && defined(__GNUC__)
    static const bool has =
        __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    return has;
#else
    return false;
#endif
}

/// Whether this CPU has AVX-512 and AVX512_BF16 (asked once).
inline bool cpu_has_avx512_bf16() {
#if defined(__x86_64__) && defined(__GNUC__)
    static const bool has = cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
    return has;
#else
    return false;
#endif
}

}  // namespace embed
