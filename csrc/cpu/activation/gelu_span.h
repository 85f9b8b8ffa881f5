// The contract between the GELU driver (gelu.cpp) and its per-ISA float32 span kernels.
//
// A span kernel runs one GELU variant over a contiguous run of n float32 elements:
//   forward:  y  = x * Phi(x)                     exact: Phi(x) = 0.5 erfc(-x / sqrt 2)
//                                                 tanh:  Phi(x) ~ sigmoid(2 u), u = sqrt(2/pi) (x + 0.044715 x^3)
//   backward: dx = dy * (Phi(x) + x Phi'(x))
// Each ISA unit (gelu_span_{baseline,avx2,avx512}.cpp) compiles the same float32 formulas
// (gelu_span_f32.inc) inside its own anonymous namespace with its own -m flags, so the compiler
// vectorises them for that ISA (4, 8 or 16 lanes) and no symbol is shared between units.
#pragma once
#include <cstdint>

namespace tf::cpu {

struct GeluSpanKernels {
    void (*forward)(const float* x, float* y, int64_t n);
    void (*backward)(const float* x, const float* dy, float* dx, int64_t n);
    void (*tanh_forward)(const float* x, float* y, int64_t n);
    void (*tanh_backward)(const float* x, const float* dy, float* dx, int64_t n);
};

GeluSpanKernels gelu_spans_f32_avx512();
GeluSpanKernels gelu_spans_f32_avx2();
GeluSpanKernels gelu_spans_f32_baseline();

}  // namespace tf::cpu
