// AVX2+FMA row softmax steps for the attention kernel (row_ops.h): 8 floats per ymm, exp as
// 2^k * poly(r) with k = round(x / ln 2), r = x - k ln 2 (ln 2 split hi/lo), 2^k built in the
// exponent bits; arguments below -87 give 0. Tails go through a masked load/store.
#ifdef TENSORFORGE_HAVE_X86_KERNELS
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "row_ops.h"

namespace tf::cpu {
namespace {

__m256 exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.0f), hi = _mm256_set1_ps(88.0f);
    __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    p = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
    return _mm256_andnot_ps(underflow, p);
}

__m256i tail_mask(int64_t left) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

float hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

float row_max(const float* s, int64_t n) {
    const __m256 ninf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    __m256 m0 = ninf, m1 = ninf;
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        m0 = _mm256_max_ps(m0, _mm256_loadu_ps(s + j));
        m1 = _mm256_max_ps(m1, _mm256_loadu_ps(s + j + 8));
    }
    for (; j < n; j += 8) {
        __m256i live = tail_mask(n - j);
        m0 = _mm256_max_ps(m0, _mm256_blendv_ps(ninf, _mm256_maskload_ps(s + j, live), _mm256_castsi256_ps(live)));
    }
    return hmax(_mm256_max_ps(m0, m1));
}

float exp_shifted_sum(const float* s, float m, float* p, int64_t n) {
    const __m256 vm = _mm256_set1_ps(m);
    __m256 sum = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
        _mm256_storeu_ps(p + j, e);
        sum = _mm256_add_ps(sum, e);
    }
    if (j < n) {
        __m256i live = tail_mask(n - j);
        __m256 e = exp8(_mm256_sub_ps(_mm256_maskload_ps(s + j, live), vm));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(live));
        _mm256_maskstore_ps(p + j, live, e);
        sum = _mm256_add_ps(sum, e);
    }
    return hsum(sum);
}

void softmax_grad(float* p, float* dp, float lse, float d, int64_t n, int64_t n_pad) {
    const __m256 vl = _mm256_set1_ps(lse), vd = _mm256_set1_ps(d);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(p + j), vl));
        _mm256_storeu_ps(p + j, e);
        _mm256_storeu_ps(dp + j, _mm256_mul_ps(e, _mm256_sub_ps(_mm256_loadu_ps(dp + j), vd)));
    }
    if (j < n) {
        const __m256i live = tail_mask(n - j);
        const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(p + j, live), vl)),
                                       _mm256_castsi256_ps(live));
        const __m256 g = _mm256_and_ps(_mm256_mul_ps(e, _mm256_sub_ps(_mm256_maskload_ps(dp + j, live), vd)),
                                       _mm256_castsi256_ps(live));
        const int64_t stored = std::min<int64_t>(8, n_pad - j);  // dead lanes below n_pad get the zeros
        const __m256i keep = tail_mask(stored);
        _mm256_maskstore_ps(p + j, keep, e);
        _mm256_maskstore_ps(dp + j, keep, g);
        j += stored;
    }
    for (; j < n_pad; ++j) p[j] = dp[j] = 0.0f;
}

}  // namespace

AttentionRowOps<float> attention_row_ops_f32_avx2() { return {&row_max, &exp_shifted_sum, &softmax_grad}; }

}  // namespace tf::cpu
#endif
