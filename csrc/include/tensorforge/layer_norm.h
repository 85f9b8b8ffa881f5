// LayerNorm over the last n elements of each of `rows` contiguous rows, float32 or float64, on
// our thread pool. weight / bias are optional (nullptr). The forward saves each row's mean and
// 1/std (rows values each) for the backward.
#pragma once
#include <cstdint>

namespace tf::cpu {

// y = (x - mean) / sqrt(var + eps) * weight + bias, var the biased variance of the row
void layer_norm_forward(const float* x, const float* weight, const float* bias, float* y, float* mean, float* rstd,
                        int64_t rows, int64_t n, double eps);
void layer_norm_forward(const double* x, const double* weight, const double* bias, double* y, double* mean,
                        double* rstd, int64_t rows, int64_t n, double eps);

// dx (nullptr: not wanted), dweight / dbias (nullptr: not wanted) from dy and the saved statistics;
// dweight and dbias are overwritten with the sums over all rows.
void layer_norm_backward(const float* dy, const float* x, const float* mean, const float* rstd, const float* weight,
                         float* dx, float* dweight, float* dbias, int64_t rows, int64_t n);
void layer_norm_backward(const double* dy, const double* x, const double* mean, const double* rstd,
                         const double* weight, double* dx, double* dweight, double* dbias, int64_t rows, int64_t n);

}  // namespace tf::cpu
