// The "dot" GEMM kernel for C with few columns (n <= 16) and row-major A: each C value is a dot
// product of an A row with a row of B^T along k, 16 k values per vector, so the work is
// m * n * k / 16 vector FMAs instead of the m * k (one per row and k step, whatever n) of a
// 16-column broadcast microkernel, and neither operand is packed. The horizontal sums are done
// once per output at the end of the k range.
//
// run(rows, n, kc, a, lda, bt, ldbt, c, ldc, alpha, beta, accumulate) computes, for i < rows and
// j < n (n <= DOT_MAX_N):
//   s[i][j] = sum_{p < kc} a[i * lda + p] * bt[j * ldbt + p]
// and writes c[i * ldc + j] = alpha * s + beta * c (beta == 0: C is not read), or c += alpha * s
// when accumulate.
#pragma once
#include <cstdint>

namespace tf::cpu {

constexpr int64_t DOT_MAX_N = 16;

struct DotKernel {
    void (*run)(int64_t rows, int64_t n, int64_t kc, const float* a, int64_t lda, const float* bt, int64_t ldbt,
                float* c, int64_t ldc, float alpha, float beta, bool accumulate);
};

DotKernel dot_kernel_f32_avx512();

}  // namespace tf::cpu
