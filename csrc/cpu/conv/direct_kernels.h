// Kernels of the direct conv2d path for one input channel per group (direct_conv.cpp), where the
// GEMM depth K = kh * kw is too short for the GEMM microkernel. Both read a "tap panel": K rows
// of ldp values, row t holding, for a run of output pixels, the input value that tap t of each
// pixel reads (zero in the padding and past the run's end).
//
// forward(k, w, mb, panel, ldp, bias, y, ldy, ncols): for r < mb (mb <= fwd_mb), c < ncols
//   (ncols <= fwd_tile): y[r * ldy + c] = bias[r] + sum_{t < k} w[r * k + t] * panel[t * ldp + c]
//   (bias may be null); the panel rows hold fwd_tile readable values.
// grad_weight(kb, mb, dy, ldy, panel, ldp, ncols, acc, lda): for r < mb (<= gw_mb), t < kb
//   (<= gw_kb), acc[r * lda + t * vl + l] += sum over c < ncols with c % vl == l of
//   dy[r * ldy + c] * panel[t * ldp + c]; dy is read only below ncols, the panel rows up to ncols
//   rounded up to vl. The caller sums the vl lanes once at the end.
// One set per ISA, chosen at run time by direct_kernels().
#pragma once
#include <cstdint>

namespace tf::cpu {

template <typename T>
struct DirectKernels {
    int fwd_mb, fwd_tile, gw_mb, gw_kb, vl;
    void (*forward)(int64_t k, const T* w, int mb, const T* panel, int64_t ldp, const T* bias, T* y, int64_t ldy,
                    int64_t ncols);
    void (*grad_weight)(int kb, int mb, const T* dy, int64_t ldy, const T* panel, int64_t ldp, int64_t ncols,
                        T* acc, int64_t lda);
};

DirectKernels<float> direct_kernels_f32_avx512();     // forward 4 x 64, grad-weight 2 x 9, zmm
DirectKernels<float> direct_kernels_f32_avx2();       // forward 6 x 16, grad-weight 2 x 6, ymm
DirectKernels<float> direct_kernels_f32_baseline();   // portable C++
DirectKernels<double> direct_kernels_f64_baseline();  // portable C++

DirectKernels<float> direct_kernels(float);  // for the active ISA (cpu_features.h)
DirectKernels<double> direct_kernels(double);

}  // namespace tf::cpu
