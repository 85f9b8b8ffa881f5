// AVX-512 row softmax steps for the attention kernel (row_ops.h): 16 floats per zmm, exp as
// 2^k * poly(r) with k = round(x / ln 2), r = x - k ln 2 (ln 2 split hi/lo), scaled by vscalefps;
// arguments below -87 give 0. Tails use masked loads and stores.
#ifdef TENSORFORGE_HAVE_X86_KERNELS
// gcc 12's AVX-512 headers build unmasked max/min/roundscale/reductions on _mm512_undefined_ps,
// which -Wextra reports as uninitialised once inlined here; the values are never read.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <limits>

#include "row_ops.h"

namespace tf::cpu {
namespace {

__m512 exp16(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.0f);
    __mmask16 live = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, lo), _mm512_set1_ps(88.0f));
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_maskz_scalef_ps(live, p, k);
}

float row_max(const float* s, int64_t n) {
    const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    __m512 m0 = ninf, m1 = ninf;
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
        m0 = _mm512_max_ps(m0, _mm512_loadu_ps(s + j));
        m1 = _mm512_max_ps(m1, _mm512_loadu_ps(s + j + 16));
    }
    for (; j < n; j += 16) {
        __mmask16 live = static_cast<__mmask16>(n - j >= 16 ? 0xFFFF : (1u << (n - j)) - 1);
        m0 = _mm512_max_ps(m0, _mm512_mask_loadu_ps(ninf, live, s + j));
    }
    return _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}

float exp_shifted_sum(const float* s, float m, float* p, int64_t n) {
    const __m512 vm = _mm512_set1_ps(m);
    __m512 sum = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(s + j), vm));
        _mm512_storeu_ps(p + j, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (j < n) {
        __mmask16 live = static_cast<__mmask16>((1u << (n - j)) - 1);
        __m512 e = _mm512_maskz_mov_ps(live, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(live, s + j), vm)));
        _mm512_mask_storeu_ps(p + j, live, e);
        sum = _mm512_add_ps(sum, e);
    }
    return _mm512_reduce_add_ps(sum);
}

// Lanes [0, n) set, n clamped to [0, 16].
__mmask16 lanes(int64_t n) {
    return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : static_cast<__mmask16>((1u << n) - 1);
}

void softmax_grad(float* p, float* dp, float lse, float d, int64_t n, int64_t n_pad) {
    const __m512 vl = _mm512_set1_ps(lse), vd = _mm512_set1_ps(d);
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(p + j), vl));
        _mm512_storeu_ps(p + j, e);
        _mm512_storeu_ps(dp + j, _mm512_mul_ps(e, _mm512_sub_ps(_mm512_loadu_ps(dp + j), vd)));
    }
    for (; j < n_pad; j += 16) {  // the tail of live lanes, then zeros up to n_pad
        const __mmask16 live = lanes(n - j), stored = lanes(n_pad - j);
        const __m512 e = _mm512_maskz_mov_ps(live, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(live, p + j), vl)));
        const __m512 g = _mm512_maskz_mul_ps(live, e, _mm512_sub_ps(_mm512_maskz_loadu_ps(live, dp + j), vd));
        _mm512_mask_storeu_ps(p + j, stored, e);
        _mm512_mask_storeu_ps(dp + j, stored, g);
    }
}

}  // namespace

AttentionRowOps<float> attention_row_ops_f32_avx512() { return {&row_max, &exp_shifted_sum, &softmax_grad}; }

}  // namespace tf::cpu
#endif
