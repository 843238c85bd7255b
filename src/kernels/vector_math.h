// The exponential, sigmoid and tanh of the CPU kernels, in plain C++ and eight floats at a time
// with AVX2 and FMA; the exponential also sixteen at a time with AVX-512 (models/simd.h says
// where those compile and run).
#pragma once
#include <algorithm>
#include <cmath>
#include <iterator>

#include "kernels/simd.h"

namespace embed::vector_math {

// Cephes' expf: e^x = 2^n e^r, n = round(x / ln 2), r = x - n ln 2 (ln 2 in two parts), e^r by a
// polynomial; within 2 ulp. Below -87 (where e^x leaves float's normal range) x counts as -87:
// e^-87 is 1.6e-38.
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2High = 0.693359375f;
constexpr float kLn2Low = -2.12194440e-4f;
constexpr float kLowest = -87.0f;
constexpr float kExpPolynomial[] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                    4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

/// e^x for x <= 0 (softmax's shifted scores; -|x| in the sigmoid and tanh below).
inline float exp_nonpositive(float x) {
    x = std::max(x, kLowest);
    const float n = std::nearbyint(x * kLog2e);
    const float r = (x - n * kLn2High) - n * kLn2Low;
    float p = kExpPolynomial[0];
    for (size_t i = 1; i < std::size(kExpPolynomial); ++i) {
        p = p * r + kExpPolynomial[i];
    }
    return std::ldexp(p * r * r + r + 1.0f, static_cast<int>(n));
}

/// 1 / (1 + e^-x), from e^-|x| (no overflow for any x).
inline float sigmoid(float x) {
    const float e = exp_nonpositive(-std::fabs(x));
    const float r = 1.0f / (1.0f + e);
    return x >= 0 ? r : e * r;
}

/// tanh(x) = sign(x) (1 - e^-2|x|) / (1 + e^-2|x|); within 1e-7 of std::tanh.
inline float tanh(float x) {
    const float e = exp_nonpositive(-2.0f * std::fabs(x));
    return std::copysign((1.0f - e) / (1.0f + e), x);
}

#ifdef EMBED_HAVE_AVX2_KERNELS
EMBED_AVX2 inline __m256 exp_nonpositive(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(kLowest));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2High), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Low), r);
    __m256 p = _mm256_set1_ps(kExpPolynomial[0]);
    for (size_t i = 1; i < std::size(kExpPolynomial); ++i) {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpPolynomial[i]));
    }
    p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    const __m256i exponent =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(exponent));
}

EMBED_AVX2 inline __m256 absolute(__m256 x) {
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
}

EMBED_AVX2 inline __m256 sigmoid(__m256 x) {
    const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_setzero_ps(), absolute(x)));
    const __m256 r = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    const __m256 negative = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    return _mm256_blendv_ps(r, _mm256_mul_ps(e, r), negative);
}

EMBED_AVX2 inline __m256 tanh(__m256 x) {
    const __m256 e = exp_nonpositive(_mm256_mul_ps(_mm256_set1_ps(-2.0f), absolute(x)));
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 magnitude = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
    const __m256 sign = _mm256_and_ps(_mm256_set1_ps(-0.0f), x);
    return _mm256_or_ps(magnitude, sign);
}
#endif

#ifdef EMBED_HAVE_AVX512_KERNELS
EMBED_AVX512_BEGIN
EMBED_AVX512 inline __m512 exp_nonpositive(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(kLowest));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2High), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Low), r);
    __m512 p = _mm512_set1_ps(kExpPolynomial[0]);
    for (size_t i = 1; i < std::size(kExpPolynomial); ++i) {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpPolynomial[i]));
    }
    p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    const __m512i exponent =
        _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(exponent));
}
EMBED_AVX512_END
#endif

}  // namespace embed::vector_math
