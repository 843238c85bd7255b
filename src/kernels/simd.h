// Kernels written for AVX2 and FMA, or AVX-512, beside a portable version: whether the compiler
// can build them, and whether the CPU running the program has the instructions.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define EMBED_HAVE_AVX2_KERNELS 1
/// Compiles one function for AVX2 and FMA, whatever the rest of the build targets.
#define EMBED_AVX2 __attribute__((target("avx2,fma")))

#define EMBED_HAVE_AVX512_KERNELS 1
/// Compiles one function for AVX-512 (Skylake-X's subsets) and its bfloat16 conversions.
#define EMBED_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))
/// Around EMBED_AVX512 code: GCC 12 takes the "undefined" registers its own AVX-512 intrinsics
/// start from for uninitialised variables (-Wmaybe-uninitialized).
#if defined(__clang__)
#define EMBED_AVX512_BEGIN
#define EMBED_AVX512_END
#else
#define EMBED_AVX512_BEGIN \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define EMBED_AVX512_END _Pragma("GCC diagnostic pop")
#endif

#endif

namespace embed {

/// Whether this CPU can run EMBED_AVX2 functions (asked once).
inline bool cpu_has_avx2_fma() {
#ifdef EMBED_HAVE_AVX2_KERNELS
    static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return has;
#else
    return false;
#endif
}

/// Whether this CPU has AVX-512's Skylake-X subsets (F, BW, DQ, VL; asked once).
inline bool cpu_has_avx512() {
#ifdef EMBED_HAVE_AVX512_KERNELS
    static const bool has =
        __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    return has;
#else
    return false;
#endif
}

/// Whether this CPU can run EMBED_AVX512 functions: AVX-512 and AVX512_BF16 (asked once).
inline bool cpu_has_avx512_bf16() {
#ifdef EMBED_HAVE_AVX512_KERNELS
    static const bool has = cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
    return has;
#else
    return false;
#endif
}

}  // namespace embed
