// The vector type the CPU kernels are written over: Vec<Isa> holds the building blocks (loads,
// stores, arithmetic, comparisons, reductions) of one instruction set, so that a kernel is written
// once as a template over the ISA (kernels/cpu_kernels_impl.h) and compiled once per instruction
// set, each in a source compiled for it (src/kernels/CMakeLists.txt). Vec<kAvx2> exists only where
// the compiler targets AVX2 and FMA, Vec<kAvx512> only where it targets AVX-512: only in those
// sources. Every function here is always inlined, so that no copy of it compiled for one
// instruction set can stand in for another's at link time.
#pragma once

#include <cstdint>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "kernels/simd.h"

#define EMBED_INLINE inline __attribute__((always_inline))

namespace embed::kernels {

template <Isa isa>
struct Vec;

/// x rounded to bfloat16's bits as c10::BFloat16 rounds it (cpu_kernels.cpp).
uint16_t bfloat16_bits(float x);

/// One float at a time, in plain C++: the portable kernels, and the last columns that a wider
/// vector does not fill. The comparisons are the std:: ones (std::max(a, b) is a < b ? b : a).
template <>
struct Vec<Isa::kPortable> {
    using Type = float;
    static constexpr int64_t kWidth = 1;
    /// Whether the last, partial vector of a row is loaded under a mask (or left to Vec<kPortable>).
    static constexpr bool kMaskedTail = false;

    static EMBED_INLINE Type load(const float* p) { return *p; }
    static EMBED_INLINE void store(float* p, Type x) { *p = x; }
    static EMBED_INLINE void store_bfloat16(uint16_t* p, Type x) { *p = bfloat16_bits(x); }
    static EMBED_INLINE Type set1(float x) { return x; }
    static EMBED_INLINE Type zero() { return 0.0f; }
    static EMBED_INLINE Type add(Type a, Type b) { return a + b; }
    static EMBED_INLINE Type sub(Type a, Type b) { return a - b; }
    static EMBED_INLINE Type mul(Type a, Type b) { return a * b; }
    static EMBED_INLINE Type div(Type a, Type b) { return a / b; }
    static EMBED_INLINE Type max(Type a, Type b) { return a < b ? b : a; }
    static EMBED_INLINE Type min(Type a, Type b) { return b < a ? b : a; }
    /// a b + c, rounded twice (as the portable code always computed it).
    static EMBED_INLINE Type fma(Type a, Type b, Type c) { return a * b + c; }
    /// c - a b, rounded twice.
    static EMBED_INLINE Type fnma(Type a, Type b, Type c) { return c - a * b; }
    // The builtins, not <cmath>'s overloads: an inline function of a header, compiled into a
    // source for AVX2, could stand in for every source's copy.
    static EMBED_INLINE Type abs(Type x) { return __builtin_fabsf(x); }
    /// `magnitude` (>= 0) with the sign of `sign`.
    static EMBED_INLINE Type copy_sign(Type magnitude, Type sign) {
        return __builtin_copysignf(magnitude, sign);
    }
    /// `if_negative` where x < 0, else `otherwise`.
    static EMBED_INLINE Type where_negative(Type x, Type if_negative, Type otherwise) {
        return x >= 0 ? otherwise : if_negative;
    }
    /// To the nearest integer, ties to even.
    static EMBED_INLINE Type round(Type x) { return __builtin_nearbyintf(x); }
    /// x 2^n for an integral n within float's normal exponents.
    static EMBED_INLINE Type scale(Type x, Type n) { return __builtin_ldexpf(x, static_cast<int>(n)); }
    static EMBED_INLINE float reduce_max(Type x) { return x; }
    static EMBED_INLINE float reduce_add(Type x) { return x; }
};

#if defined(__AVX2__) && defined(__FMA__)
/// Eight floats, AVX2 and FMA.
template <>
struct Vec<Isa::kAvx2> {
    using Type = __m256;
    static constexpr int64_t kWidth = 8;
    static constexpr bool kMaskedTail = false;

    static EMBED_INLINE Type load(const float* p) { return _mm256_loadu_ps(p); }
    static EMBED_INLINE void store(float* p, Type x) { _mm256_storeu_ps(p, x); }
    /// *p in every lane.
    static EMBED_INLINE Type broadcast(const float* p) { return _mm256_broadcast_ss(p); }
    static EMBED_INLINE Type set1(float x) { return _mm256_set1_ps(x); }
    static EMBED_INLINE Type zero() { return _mm256_setzero_ps(); }
    static EMBED_INLINE Type add(Type a, Type b) { return _mm256_add_ps(a, b); }
    static EMBED_INLINE Type sub(Type a, Type b) { return _mm256_sub_ps(a, b); }
    static EMBED_INLINE Type mul(Type a, Type b) { return _mm256_mul_ps(a, b); }
    static EMBED_INLINE Type div(Type a, Type b) { return _mm256_div_ps(a, b); }
    static EMBED_INLINE Type max(Type a, Type b) { return _mm256_max_ps(a, b); }
    static EMBED_INLINE Type min(Type a, Type b) { return _mm256_min_ps(a, b); }
    static EMBED_INLINE Type fma(Type a, Type b, Type c) { return _mm256_fmadd_ps(a, b, c); }
    static EMBED_INLINE Type fnma(Type a, Type b, Type c) { return _mm256_fnmadd_ps(a, b, c); }
    static EMBED_INLINE Type abs(Type x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
    static EMBED_INLINE Type copy_sign(Type magnitude, Type sign) {
        return _mm256_or_ps(magnitude, _mm256_and_ps(_mm256_set1_ps(-0.0f), sign));
    }
    static EMBED_INLINE Type where_negative(Type x, Type if_negative, Type otherwise) {
        return _mm256_blendv_ps(otherwise, if_negative,
                                _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
    }
    static EMBED_INLINE Type round(Type x) {
        return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    static EMBED_INLINE Type scale(Type x, Type n) {
        const __m256i exponent =
            _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
        return _mm256_mul_ps(x, _mm256_castsi256_ps(exponent));
    }
    static EMBED_INLINE float reduce_max(Type v) {
        __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        x = _mm_max_ps(x, _mm_movehl_ps(x, x));
        return _mm_cvtss_f32(_mm_max_ps(x, _mm_shuffle_ps(x, x, 1)));
    }
    static EMBED_INLINE float reduce_add(Type v) {
        __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        x = _mm_add_ps(x, _mm_movehl_ps(x, x));
        return _mm_cvtss_f32(_mm_add_ps(x, _mm_shuffle_ps(x, x, 1)));
    }
};
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && \
    defined(__AVX512VL__) && defined(__AVX512BF16__)
/// Sixteen floats, AVX-512 (Skylake-X's subsets and AVX512_BF16). A row's last columns go in
/// one vector under a mask.
template <>
struct Vec<Isa::kAvx512> {
    using Type = __m512;
    static constexpr int64_t kWidth = 16;
    static constexpr bool kMaskedTail = true;

    /// The first `n` lanes (n < 16).
    static EMBED_INLINE __mmask16 first_lanes(int64_t n) {
        return _cvtu32_mask16((1u << n) - 1);
    }
    static EMBED_INLINE Type load(const float* p) { return _mm512_loadu_ps(p); }
    /// p[0, n) in the first n lanes, `fill` in the others.
    static EMBED_INLINE Type load_partial(const float* p, int64_t n, float fill) {
        return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), first_lanes(n), p);
    }
    static EMBED_INLINE void store(float* p, Type x) { _mm512_storeu_ps(p, x); }
    static EMBED_INLINE void store_partial(float* p, Type x, int64_t n) {
        _mm512_mask_storeu_ps(p, first_lanes(n), x);
    }
    /// x rounded to bfloat16, to nearest even as c10::BFloat16 rounds, into p[0, 16).
    static EMBED_INLINE void store_bfloat16(uint16_t* p, Type x) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), (__m256i)_mm512_cvtneps_pbh(x));
    }
    static EMBED_INLINE void store_bfloat16_partial(uint16_t* p, Type x, int64_t n) {
        _mm256_mask_storeu_epi16(p, first_lanes(n), (__m256i)_mm512_cvtneps_pbh(x));
    }
    static EMBED_INLINE Type set1(float x) { return _mm512_set1_ps(x); }
    static EMBED_INLINE Type zero() { return _mm512_setzero_ps(); }
    static EMBED_INLINE Type add(Type a, Type b) { return _mm512_add_ps(a, b); }
    /// a + b in the first n lanes, a in the others.
    static EMBED_INLINE Type add_partial(Type a, Type b, int64_t n) {
        return _mm512_mask_add_ps(a, first_lanes(n), a, b);
    }
    static EMBED_INLINE Type sub(Type a, Type b) { return _mm512_sub_ps(a, b); }
    static EMBED_INLINE Type mul(Type a, Type b) { return _mm512_mul_ps(a, b); }
    static EMBED_INLINE Type div(Type a, Type b) { return _mm512_div_ps(a, b); }
    static EMBED_INLINE Type max(Type a, Type b) { return _mm512_max_ps(a, b); }
    static EMBED_INLINE Type min(Type a, Type b) { return _mm512_min_ps(a, b); }
    static EMBED_INLINE Type fma(Type a, Type b, Type c) { return _mm512_fmadd_ps(a, b, c); }
    static EMBED_INLINE Type fnma(Type a, Type b, Type c) { return _mm512_fnmadd_ps(a, b, c); }
    static EMBED_INLINE Type round(Type x) {
        return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    static EMBED_INLINE Type scale(Type x, Type n) {
        const __m512i exponent =
            _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
        return _mm512_mul_ps(x, _mm512_castsi512_ps(exponent));
    }
    static EMBED_INLINE float reduce_max(Type x) { return _mm512_reduce_max_ps(x); }
    static EMBED_INLINE float reduce_add(Type x) { return _mm512_reduce_add_ps(x); }
};
#endif

}  // namespace embed::kernels
