// Portable Adam span kernel (float32 and float64): the formula of adam_span.h as a plain loop
// that the compiler vectorises for the baseline target; also the reference for the SIMD units.
#include <algorithm>
#include <cmath>

#include "adam_span.h"

namespace tf::cpu {
namespace {

template <typename T, bool kAmsgrad, bool kL2>
void span(const AdamCoeffs<T>& c, const AdamSpan<T>& s) {
    T* __restrict p = s.p;
    const T* __restrict g_in = s.g;
    T* __restrict m = s.m;
    T* __restrict v = s.v;
    T* __restrict vmax = s.vmax;
    for (int64_t i = 0; i < s.n; ++i) {
        T g = c.grad_sign * g_in[i];
        T pi = p[i];
        if (kL2) g = g + c.l2 * pi;
        pi = pi * c.decay;
        const T diff = g - m[i];
        const T mi = (c.lerp_from_grad ? g : m[i]) + c.lerp_coeff * diff;
        T vi = v[i] * c.beta2 + (c.one_minus_beta2 * g) * g;
        m[i] = mi;
        v[i] = vi;
        if (kAmsgrad) {
            vi = std::max(vmax[i], vi);
            vmax[i] = vi;
        }
        const T denom = std::sqrt(vi) / c.bc2_sqrt + c.eps;
        p[i] = pi + (c.neg_step_size * mi) / denom;
    }
}

template <typename T>
void dispatch(const AdamCoeffs<T>& c, const AdamSpan<T>& s) {
    if (c.amsgrad) {
        if (c.has_l2) span<T, true, true>(c, s);
        else span<T, true, false>(c, s);
    } else {
        if (c.has_l2) span<T, false, true>(c, s);
        else span<T, false, false>(c, s);
    }
}

}  // namespace

AdamSpanKernel<float> adam_span_f32_baseline() { return dispatch<float>; }
AdamSpanKernel<double> adam_span_f64_baseline() { return dispatch<double>; }

}  // namespace tf::cpu
