// Elementwise kernels of the training step that numpy runs on one thread and in several passes:
// ReLU forward and backward, dropout forward (mask drawn from a counter-based hash, so it does not
// depend on the thread count) and backward, and column sums (a linear layer's bias gradient).
// Contiguous arrays, float32 or float64, split over our thread pool.
#pragma once
#include <cstdint>

namespace tf::cpu {

// y = max(x, 0) (NaN stays NaN)
void relu_forward(const float* x, float* y, int64_t n);
void relu_forward(const double* x, double* y, int64_t n);

// dx = y > 0 ? dy : 0, from the forward's output y
void relu_backward(const float* y, const float* dy, float* dx, int64_t n);
void relu_backward(const double* y, const double* dy, double* dx, int64_t n);

// keep[i] = dropout_keep(p, seed, i); y = x * (keep ? 1 / (1 - p) : 0). 0 < p < 1.
void dropout_forward(const float* x, float* y, uint8_t* keep, int64_t n, double p, uint64_t seed);
void dropout_forward(const double* x, double* y, uint8_t* keep, int64_t n, double p, uint64_t seed);

// dx = dy * (keep ? scale : 0)
void dropout_backward(const float* dy, const uint8_t* keep, float* dx, int64_t n, double scale);
void dropout_backward(const double* dy, const uint8_t* keep, double* dx, int64_t n, double scale);

// Whether element i is kept: a 32-bit hash of (i, seed) compared with round(p * 2^32).
bool dropout_keep(double p, uint64_t seed, int64_t i);

// out[c] = sum over r of x[r, c] for a rows x cols row-major x, summed in blocks of rows, the blocks in float64
void sum_rows(const float* x, float* out, int64_t rows, int64_t cols);
void sum_rows(const double* x, double* out, int64_t rows, int64_t cols);

}  // namespace tf::cpu
