// Elementwise activations that numpy cannot do in one pass: GELU (exact erf form and tanh form)
// forward and backward, and erf itself. Contiguous arrays of n elements, float32 or float64; run
// on our pool. float32 GELU is evaluated in float32 SIMD (a few ulp, also in the negative tail).
#pragma once
#include <cstdint>

namespace tf::cpu {

// y = x * Phi(x) = 0.5 x erfc(-x / sqrt 2)
void gelu_forward(const float* x, float* y, int64_t n);
void gelu_forward(const double* x, double* y, int64_t n);

// dx = dy * (Phi(x) + x phi(x)), phi the standard normal density
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n);
void gelu_backward(const double* x, const double* dy, double* dx, int64_t n);

// tanh form: y = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), and its derivative
void gelu_tanh_forward(const float* x, float* y, int64_t n);
void gelu_tanh_forward(const double* x, double* y, int64_t n);
void gelu_tanh_backward(const float* x, const float* dy, float* dx, int64_t n);
void gelu_tanh_backward(const double* x, const double* dy, double* dx, int64_t n);

void erf(const float* x, float* y, int64_t n);
void erf(const double* x, double* y, int64_t n);

}  // namespace tf::cpu
