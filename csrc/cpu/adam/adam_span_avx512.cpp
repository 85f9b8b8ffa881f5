// AVX-512 float32 Adam span kernel: the formula of adam_span.h on 16 floats per zmm, the ragged
// tail through masked loads and stores (no scalar loop). Memory bound: 28 bytes per element
// (36 with amsgrad) against ~10 flops, so the loop only has to keep loads in flight; two
// vectors per iteration give the core independent work while the next lines arrive.
#include <immintrin.h>

#include "adam_span.h"

// GCC 12 warns falsely about _mm512_undefined_ps inside the masked intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace tf::cpu {
namespace {

struct Consts {
    __m512 sign, l2, decay, coeff, beta2, omb2, neg_step, bc2_sqrt, eps;
    __mmask16 from_grad;
};

template <bool kAmsgrad, bool kL2>
inline __attribute__((always_inline)) void step16(const Consts& k, const AdamSpan<float>& s, int64_t i, __mmask16 live) {
    __m512 g = _mm512_mul_ps(k.sign, _mm512_maskz_loadu_ps(live, s.g + i));
    __m512 p = _mm512_maskz_loadu_ps(live, s.p + i);
    const __m512 m0 = _mm512_maskz_loadu_ps(live, s.m + i);
    const __m512 v0 = _mm512_maskz_loadu_ps(live, s.v + i);
    if (kL2) g = _mm512_add_ps(g, _mm512_mul_ps(k.l2, p));
    p = _mm512_mul_ps(p, k.decay);
    const __m512 m = _mm512_add_ps(_mm512_mask_blend_ps(k.from_grad, m0, g), _mm512_mul_ps(k.coeff, _mm512_sub_ps(g, m0)));
    __m512 v = _mm512_add_ps(_mm512_mul_ps(v0, k.beta2), _mm512_mul_ps(_mm512_mul_ps(k.omb2, g), g));
    _mm512_mask_storeu_ps(s.m + i, live, m);
    _mm512_mask_storeu_ps(s.v + i, live, v);
    if (kAmsgrad) {
        v = _mm512_max_ps(_mm512_maskz_loadu_ps(live, s.vmax + i), v);
        _mm512_mask_storeu_ps(s.vmax + i, live, v);
    }
    const __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(v), k.bc2_sqrt), k.eps);
    // Masked-off lanes divide 0 by eps or by 0; their results are never stored.
    p = _mm512_add_ps(p, _mm512_div_ps(_mm512_mul_ps(k.neg_step, m), denom));
    _mm512_mask_storeu_ps(s.p + i, live, p);
}

template <bool kAmsgrad, bool kL2>
void span(const AdamCoeffs<float>& c, const AdamSpan<float>& s) {
    const Consts k{_mm512_set1_ps(c.grad_sign), _mm512_set1_ps(c.l2), _mm512_set1_ps(c.decay),
                   _mm512_set1_ps(c.lerp_coeff), _mm512_set1_ps(c.beta2), _mm512_set1_ps(c.one_minus_beta2),
                   _mm512_set1_ps(c.neg_step_size), _mm512_set1_ps(c.bc2_sqrt), _mm512_set1_ps(c.eps),
                   static_cast<__mmask16>(c.lerp_from_grad ? 0xFFFF : 0)};
    int64_t i = 0;
    for (; i + 32 <= s.n; i += 32) {
        step16<kAmsgrad, kL2>(k, s, i, 0xFFFF);
        step16<kAmsgrad, kL2>(k, s, i + 16, 0xFFFF);
    }
    for (; i < s.n; i += 16) {
        const int64_t left = s.n - i;
        step16<kAmsgrad, kL2>(k, s, i, left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1));
    }
}

void dispatch(const AdamCoeffs<float>& c, const AdamSpan<float>& s) {
    if (c.amsgrad) {
        if (c.has_l2) span<true, true>(c, s);
        else span<true, false>(c, s);
    } else {
        if (c.has_l2) span<false, true>(c, s);
        else span<false, false>(c, s);
    }
}

}  // namespace

AdamSpanKernel<float> adam_span_f32_avx512() { return dispatch; }

}  // namespace tf::cpu
