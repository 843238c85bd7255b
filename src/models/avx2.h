// Kernels written for AVX2 and FMA beside a portable version: whether the compiler can build
// them, and whether the CPU running the program has the instructions.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define EMBED_HAVE_AVX2_KERNELS 1
/// Compiles one function for AVX2 and FMA, whatever the rest of the build targets.
#define EMBED_AVX2 __attribute__((target("avx2,fma")))

namespace embed {

/// Whether this CPU can run EMBED_AVX2 functions (asked once).
inline bool cpu_has_avx2_fma() {
    static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return has;
}

}  // namespace embed
#endif
