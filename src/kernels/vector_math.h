// The exponential, sigmoid and tanh of the CPU kernels, written once over Vec<Isa>
// (kernels/vec.h): a float at a time in plain C++, eight with AVX2 and FMA, sixteen with AVX-512.
#pragma once
#include <iterator>

#include "kernels/vec.h"

namespace embed::kernels {

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
template <Isa isa>
EMBED_INLINE typename Vec<isa>::Type exp_nonpositive(typename Vec<isa>::Type x) {
    using V = Vec<isa>;
    x = V::max(x, V::set1(kLowest));
    const typename V::Type n = V::round(V::mul(x, V::set1(kLog2e)));
    typename V::Type r = V::fnma(n, V::set1(kLn2High), x);
    r = V::fnma(n, V::set1(kLn2Low), r);
    typename V::Type p = V::set1(kExpPolynomial[0]);
    for (size_t i = 1; i < std::size(kExpPolynomial); ++i) {
        p = V::fma(p, r, V::set1(kExpPolynomial[i]));
    }
    if constexpr (isa == Isa::kPortable) {
        // (p r) r, as the portable code has always associated it: p (r r) would change its
        // results in the last bit.
        p = p * r * r + r + 1.0f;
    } else {
        p = V::add(V::fma(p, V::mul(r, r), r), V::set1(1.0f));
    }
    return V::scale(p, n);
}

/// 1 / (1 + e^-x), from e^-|x| (no overflow for any x).
template <Isa isa>
EMBED_INLINE typename Vec<isa>::Type sigmoid(typename Vec<isa>::Type x) {
    using V = Vec<isa>;
    const typename V::Type e = exp_nonpositive<isa>(V::sub(V::zero(), V::abs(x)));
    const typename V::Type r = V::div(V::set1(1.0f), V::add(V::set1(1.0f), e));
    return V::where_negative(x, V::mul(e, r), r);
}

/// tanh(x) = sign(x) (1 - e^-2|x|) / (1 + e^-2|x|); within 1e-7 of std::tanh.
template <Isa isa>
EMBED_INLINE typename Vec<isa>::Type tanh(typename Vec<isa>::Type x) {
    using V = Vec<isa>;
    const typename V::Type e = exp_nonpositive<isa>(V::mul(V::set1(-2.0f), V::abs(x)));
    const typename V::Type one = V::set1(1.0f);
    return V::copy_sign(V::div(V::sub(one, e), V::add(one, e)), x);
}

}  // namespace embed::kernels

namespace embed::vector_math {

/// The portable (one float at a time) versions.
EMBED_INLINE float exp_nonpositive(float x) {
    return kernels::exp_nonpositive<Isa::kPortable>(x);
}
EMBED_INLINE float sigmoid(float x) { return kernels::sigmoid<Isa::kPortable>(x); }
EMBED_INLINE float tanh(float x) { return kernels::tanh<Isa::kPortable>(x); }

}  // namespace embed::vector_math
