// The "small" GEMM kernel: a product too small for packing to pay off, read in place. For
// 10 x 128 x 64 (a Linear layer's weight gradient) packing A and B took 37% of a one-thread
// profile, as much as the product itself in some shapes.
//
// run(kc, rows, cols, a, a_rs, a_ps, b, ldb, c, ldc, alpha, beta) computes, for r < rows
// (<= SMALL_MR) and j < cols (<= SMALL_NR):
//   s[r][j] = sum_{p < kc} a[r * a_rs + p * a_ps] * b[p * ldb + j]
// and writes c[r * ldc + j] = alpha * s + beta * c (beta == 0: C is not read). A is read through
// its two strides, so either layout works (row-major: a_rs = lda, a_ps = 1; transposed: a_rs = 1,
// a_ps = lda); B must be row-major (its rows are loaded as vectors, with a mask at the last
// columns).
#pragma once
#include <cstdint>

namespace tf::cpu {

constexpr int SMALL_MR = 12, SMALL_NR = 32;

struct SmallKernel {
    void (*run)(int64_t kc, int rows, int cols, const float* a, int64_t a_rs, int64_t a_ps, const float* b,
                int64_t ldb, float* c, int64_t ldc, float alpha, float beta);
};

SmallKernel small_kernel_f32_avx512();

}  // namespace tf::cpu
