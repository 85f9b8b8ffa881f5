// The contract between the LayerNorm driver (layer_norm.cpp) and its per-ISA row kernels.
//
// Data: `rows` contiguous rows of n elements each (x, y, dy, dx), per-row statistics mean and
// rstd (one value per row), optional affine weight / bias of n elements (nullptr: none).
//   forward:  mean = sum(x) / n, var = sum((x - mean)^2) / n (two passes over the row),
//             rstd = 1 / sqrt(var + eps), y = (x - mean) * rstd * weight + bias
//   backward: xhat = (x - mean) * rstd, g = dy * weight,
//             dx = rstd * (g - mean(g) - xhat * mean(g * xhat))      (when dx is not nullptr)
//             dweight_acc += dy * xhat, dbias_acc += dy               (when not nullptr)
// Each ISA unit compiles the same templated loops (layer_norm_rows.inc) inside its own anonymous
// namespace with its own -m flags; the float64 kernels live in the baseline unit only.
#pragma once
#include <cstdint>

namespace tf::cpu {

template <typename T>
struct LayerNormRowKernels {
    void (*forward)(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd, int64_t rows, int64_t n,
                    T eps);
    void (*backward)(const T* dy, const T* x, const T* mean, const T* rstd, const T* weight, T* dx, T* dweight_acc,
                     T* dbias_acc, int64_t rows, int64_t n);
};

LayerNormRowKernels<float> layer_norm_rows_f32_avx512();
LayerNormRowKernels<float> layer_norm_rows_f32_avx2();
LayerNormRowKernels<float> layer_norm_rows_f32_baseline();
LayerNormRowKernels<double> layer_norm_rows_f64_baseline();

}  // namespace tf::cpu
