// The CPU kernels compiled for AVX-512 with AVX512_BF16 (this source only:
// src/kernels/CMakeLists.txt).

// GCC 12 takes the "undefined" registers its own AVX-512 intrinsics start from for uninitialised
// variables (-Wmaybe-uninitialized).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels/cpu_kernels_impl.h"

namespace embed::kernels {

template void exponentiate_rows<Isa::kAvx512>(const float*, int64_t, int64_t, float*, float*);
template void exponentiate_rows_to_bfloat16<Isa::kAvx512>(const float*, int64_t, int64_t,
                                                           c10::BFloat16*, float*);

}  // namespace embed::kernels
