// Elementwise activations that numpy cannot do in one pass: exact GELU (erf form) forward and
// backward, and erf itself. Contiguous arrays of n elements, float32 or float64; run on our pool.
#pragma once
#include <cstdint>

namespace tf::cpu {

// y = x * Phi(x) = 0.5 x erfc(-x / sqrt 2)
void gelu_forward(const float* x, float* y, int64_t n);
void gelu_forward(const double* x, double* y, int64_t n);

// dx = dy * (Phi(x) + x phi(x)), phi the standard normal density
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n);
void gelu_backward(const double* x, const double* dy, double* dx, int64_t n);

void erf(const float* x, float* y, int64_t n);
void erf(const double* x, double* y, int64_t n);

}  // namespace tf::cpu
