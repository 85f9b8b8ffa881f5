// The GEMM interface that both backends implement.
//
// C = alpha * op(A) * op(B) + beta * C, all matrices row-major (numpy's C order):
//   op(A) is m x k: A is stored m x k with row stride lda (trans_a = false),
//                   or k x m with row stride lda (trans_a = true);
//   op(B) is k x n: likewise with ldb and trans_b;
//   C is m x n with row stride ldc.
// beta == 0 means C is write-only (its old contents, NaN included, are ignored), as in BLAS.
// The batched form repeats this `batch` times with element offsets stride_a/b/c between
// consecutive matrices (a stride of 0 broadcasts one operand over the batch).
// Callers validate shapes; these functions trust their arguments.
#pragma once
#include <cstdint>

namespace tf {

struct GemmShape {
    bool trans_a = false, trans_b = false;
    int64_t m = 0, n = 0, k = 0;
    int64_t lda = 0, ldb = 0, ldc = 0;
};

struct GemmBatch {
    int64_t count = 1;
    int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};

namespace cpu {
void gemm(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c,
          const GemmBatch& batch = GemmBatch{});
void gemm(const GemmShape& s, double alpha, const double* a, const double* b, double beta, double* c,
          const GemmBatch& batch = GemmBatch{});
}  // namespace cpu

}  // namespace tf
