// The contract between the Adam driver (adam.cpp) and its per-ISA span kernels.
//
// A span kernel runs the Adam step (tensorforge/adam.h) over one contiguous run of n elements
// of one tensor, with coefficients that the driver derived once per hyper-parameter entry:
//   g     = grad_sign * grad                       (+1, or -1 for maximize)
//   g     = g + l2 * p                             (only when has_l2: Adam's weight decay)
//   p     = decay * p                              (AdamW: 1 - lr * weight_decay, else 1)
//   m     = lerp_base + lerp_coeff * (g - m)       (PyTorch's lerp_ with weight 1 - beta1:
//                                                   base m, coeff w when w < 0.5; else base g, coeff w - 1)
//   v     = beta2 * v + ((1 - beta2) * g) * g
//   vmax  = max(vmax, v)                           (only when amsgrad; then vmax is used below)
//   p     = p + (neg_step_size * m) / (sqrt(v) / bc2_sqrt + eps)
// Kernels read p, g, m, v (and vmax) once and write p, m, v (and vmax) once, in place.
#pragma once
#include <cstdint>

// The span kernels include this header and are compiled without a*b+c contraction into FMA, so
// every SIMD path rounds exactly like the portable one (and like PyTorch's unfused CPU ops): the
// ISA units give bit-identical results, which the tests check.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace tf::cpu {

template <typename T>
struct AdamCoeffs {
    T grad_sign, l2, decay, lerp_coeff, beta2, one_minus_beta2, neg_step_size, bc2_sqrt, eps;
    bool lerp_from_grad, has_l2, amsgrad;
};

template <typename T>
struct AdamSpan {
    T* p;
    const T* g;
    T* m;
    T* v;
    T* vmax;
    int64_t n;
};

template <typename T>
using AdamSpanKernel = void (*)(const AdamCoeffs<T>& c, const AdamSpan<T>& s);

AdamSpanKernel<float> adam_span_f32_avx512();
AdamSpanKernel<float> adam_span_f32_avx2();
AdamSpanKernel<float> adam_span_f32_baseline();
AdamSpanKernel<double> adam_span_f64_baseline();

}  // namespace tf::cpu
