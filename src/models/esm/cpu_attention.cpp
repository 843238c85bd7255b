#include "models/esm/cpu_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>

#include "embed/util/parallel.h"
#include "models/avx2.h"

namespace embed::esm {
namespace {

// The scores of a block of queries against all keys: sized to stay in a core's L2 cache between
// the two products and the exponentials.
constexpr int64_t kScoreBlockBytes = 256 << 10;
constexpr int64_t kMinQueryRows = 16;

// Cephes' expf: e^x = 2^n e^r, n = round(x / ln 2), r = x - n ln 2 (ln 2 in two parts), e^r by a
// polynomial; within 2 ulp. Softmax's shifted scores are <= 0; below -87 (where e^x leaves
// float's normal range) they count as e^-87, 1e-38.
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2High = 0.693359375f;
constexpr float kLn2Low = -2.12194440e-4f;
constexpr float kLowest = -87.0f;
constexpr float kExpPolynomial[] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                    4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

float exp_nonpositive(float x) {
    x = std::max(x, kLowest);
    const float n = std::nearbyint(x * kLog2e);
    const float r = (x - n * kLn2High) - n * kLn2Low;
    float p = kExpPolynomial[0];
    for (size_t i = 1; i < std::size(kExpPolynomial); ++i) {
        p = p * r + kExpPolynomial[i];
    }
    return std::ldexp(p * r * r + r + 1.0f, static_cast<int>(n));
}

#ifdef EMBED_HAVE_AVX2_KERNELS
EMBED_AVX2 __m256 exp_nonpositive(__m256 x) {
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

EMBED_AVX2 float horizontal_max(__m256 v) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    return _mm_cvtss_f32(_mm_max_ps(x, _mm_shuffle_ps(x, x, 1)));
}

EMBED_AVX2 float horizontal_sum(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    return _mm_cvtss_f32(_mm_add_ps(x, _mm_shuffle_ps(x, x, 1)));
}

/// detail::exponentiate_rows_portably, eight columns at a time.
EMBED_AVX2 void exponentiate_rows_avx2(float* scores, int64_t rows, int64_t columns, float* sums) {
    const int64_t vectors = columns / 8 * 8;
    for (int64_t r = 0; r < rows; ++r) {
        float* row = scores + r * columns;
        __m256 largest_8 = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
        for (int64_t c = 0; c < vectors; c += 8) {
            largest_8 = _mm256_max_ps(largest_8, _mm256_loadu_ps(row + c));
        }
        float largest = horizontal_max(largest_8);
        for (int64_t c = vectors; c < columns; ++c) {
            largest = std::max(largest, row[c]);
        }
        const __m256 shift = _mm256_set1_ps(largest);
        __m256 sum_8 = _mm256_setzero_ps();
        for (int64_t c = 0; c < vectors; c += 8) {
            const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(row + c), shift));
            _mm256_storeu_ps(row + c, e);
            sum_8 = _mm256_add_ps(sum_8, e);
        }
        float sum = horizontal_sum(sum_8);
        for (int64_t c = vectors; c < columns; ++c) {
            row[c] = exp_nonpositive(row[c] - largest);
            sum += row[c];
        }
        sums[r] = sum;
    }
}
#endif

/// Row r of `out` (rows x columns, rows `stride` apart) divided by sums[r].
void divide_rows(float* out, int64_t rows, int64_t columns, int64_t stride, const float* sums) {
    for (int64_t r = 0; r < rows; ++r) {
        const float inverse = 1.0f / sums[r];
        float* row = out + r * stride;
        for (int64_t c = 0; c < columns; ++c) {
            row[c] *= inverse;
        }
    }
}

/// One head's queries or keys of `tokens` tokens (rows `stride` apart) into `out` (tokens x d,
/// contiguous), times `scale`, then rotated as fair-esm's rotary embedding does:
/// x * cos + rotate_half(x) * sin, where rotate_half(x) = (-x[d/2:], x[:d/2]).
void scale_and_rotate(const float* in, int64_t stride, int64_t tokens, int64_t d, float scale,
                      const float* cos_Td, const float* sin_Td, float* out) {
    const int64_t half = d / 2;
    for (int64_t t = 0; t < tokens; ++t) {
        const float* x = in + t * stride;
        float* y = out + t * d;
        for (int64_t i = 0; i < d; ++i) {
            y[i] = x[i] * scale;
        }
        if (cos_Td == nullptr) {
            continue;
        }
        float rotated[kCpuAttentionMaxHeadDim];
        for (int64_t i = 0; i < half; ++i) {
            rotated[i] = -y[i + half];
            rotated[i + half] = y[i];
        }
        const float* cos = cos_Td + t * d;
        const float* sin = sin_Td + t * d;
        for (int64_t i = 0; i < d; ++i) {
            y[i] = y[i] * cos[i] + rotated[i] * sin[i];
        }
    }
}

}  // namespace

namespace detail {

void exponentiate_rows_portably(float* scores, int64_t rows, int64_t columns, float* sums) {
    for (int64_t r = 0; r < rows; ++r) {
        float* row = scores + r * columns;
        const float largest = *std::max_element(row, row + columns);
        float sum = 0;
        for (int64_t c = 0; c < columns; ++c) {
            row[c] = exp_nonpositive(row[c] - largest);
            sum += row[c];
        }
        sums[r] = sum;
    }
}

void exponentiate_rows(float* scores, int64_t rows, int64_t columns, float* sums) {
#ifdef EMBED_HAVE_AVX2_KERNELS
    if (cpu_has_avx2_fma()) {
        exponentiate_rows_avx2(scores, rows, columns, sums);
        return;
    }
#endif
    exponentiate_rows_portably(scores, rows, columns, sums);
}

}  // namespace detail

torch::Tensor attend_on_cpu(const torch::Tensor& qkv_BTE, int64_t heads, float query_scale,
                            const torch::Tensor& cos_Td, const torch::Tensor& sin_Td,
                            const std::vector<int64_t>& tokens_B) {
    TORCH_CHECK(qkv_BTE.scalar_type() == torch::kFloat32 && qkv_BTE.is_contiguous() &&
                    qkv_BTE.dim() == 3 && qkv_BTE.size(2) % (3 * heads) == 0,
                "attend_on_cpu: qkv must be contiguous float32 (B, T, 3 * H * d)");
    const int64_t batch = qkv_BTE.size(0);
    const int64_t length = qkv_BTE.size(1);
    const int64_t dim = qkv_BTE.size(2) / 3;
    const int64_t head_dim = dim / heads;
    TORCH_CHECK(head_dim <= kCpuAttentionMaxHeadDim, "attend_on_cpu: heads wider than ",
                kCpuAttentionMaxHeadDim);
    const bool rotary = cos_Td.defined();
    TORCH_CHECK(!rotary || (cos_Td.is_contiguous() && sin_Td.is_contiguous() &&
                            cos_Td.size(0) >= length && cos_Td.size(1) == head_dim),
                "attend_on_cpu: the rotation must be contiguous (T, d)");
    const int64_t max_rows = std::clamp<int64_t>(
        kScoreBlockBytes / (length * static_cast<int64_t>(sizeof(float))), kMinQueryRows, length);

    torch::Tensor context_BTD = torch::empty({batch, length, dim}, qkv_BTE.options());
    parallel_products(batch * heads, [&](int64_t begin, int64_t end) {
        const torch::TensorOptions options = qkv_BTE.options();
        torch::Tensor q_Td = torch::empty({length, head_dim}, options);
        torch::Tensor k_Td = torch::empty({length, head_dim}, options);
        torch::Tensor scores = torch::empty({max_rows * length}, options);
        std::vector<float> sums(static_cast<size_t>(max_rows));
        for (int64_t i = begin; i < end; ++i) {
            const int64_t b = i / heads;
            const int64_t h = i % heads;
            const int64_t tokens = tokens_B[static_cast<size_t>(b)];
            const torch::Tensor qkv_TE = qkv_BTE[b].narrow(0, 0, tokens);
            const float* first_query = qkv_TE.data_ptr<float>() + h * head_dim;
            const float* cos = rotary ? cos_Td.data_ptr<float>() : nullptr;
            const float* sin = rotary ? sin_Td.data_ptr<float>() : nullptr;
            scale_and_rotate(first_query, 3 * dim, tokens, head_dim, query_scale, cos, sin,
                             q_Td.data_ptr<float>());
            scale_and_rotate(first_query + dim, 3 * dim, tokens, head_dim, 1.0f, cos, sin,
                             k_Td.data_ptr<float>());
            const torch::Tensor kt_dT = k_Td.narrow(0, 0, tokens).t();
            const torch::Tensor v_Td = qkv_TE.narrow(1, 2 * dim + h * head_dim, head_dim);
            const torch::Tensor context_Td =
                context_BTD[b].narrow(0, 0, tokens).narrow(1, h * head_dim, head_dim);
            for (int64_t first = 0; first < tokens; first += max_rows) {
                const int64_t rows = std::min(max_rows, tokens - first);
                torch::Tensor scores_nT = scores.narrow(0, 0, rows * tokens).view({rows, tokens});
                at::mm_out(scores_nT, q_Td.narrow(0, first, rows), kt_dT);
                detail::exponentiate_rows(scores_nT.data_ptr<float>(), rows, tokens, sums.data());
                torch::Tensor context_nd = context_Td.narrow(0, first, rows);
                at::mm_out(context_nd, scores_nT, v_Td);
                divide_rows(context_nd.data_ptr<float>(), rows, head_dim, dim, sums.data());
            }
        }
    });
    for (int64_t b = 0; b < batch; ++b) {
        const int64_t tokens = tokens_B[static_cast<size_t>(b)];
        context_BTD[b].narrow(0, tokens, length - tokens).zero_();
    }
    return context_BTD;
}

}  // namespace embed::esm
