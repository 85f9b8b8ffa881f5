// Placeholder GEMM: a correct, cache-unaware triple loop used until the packed BLIS-style
// kernels land. Row-major, transposes via index arithmetic, beta == 0 ignores C's contents.
#include <tensorforge/gemm.h>

#include "../thread_pool.h"

namespace tf::cpu {
namespace {

template <typename T>
void gemm_one(const GemmShape& s, T alpha, const T* a, const T* b, T beta, T* c) {
    parallel_for(s.m, 16, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            T* crow = c + i * s.ldc;
            for (int64_t j = 0; j < s.n; ++j) {
                T acc = 0;
                for (int64_t p = 0; p < s.k; ++p) {
                    T av = s.trans_a ? a[p * s.lda + i] : a[i * s.lda + p];
                    T bv = s.trans_b ? b[j * s.ldb + p] : b[p * s.ldb + j];
                    acc += av * bv;
                }
                crow[j] = beta == T(0) ? alpha * acc : alpha * acc + beta * crow[j];
            }
        }
    });
}

template <typename T>
void gemm_batched(const GemmShape& s, T alpha, const T* a, const T* b, T beta, T* c, const GemmBatch& batch) {
    for (int64_t i = 0; i < batch.count; ++i)
        gemm_one(s, alpha, a + i * batch.stride_a, b + i * batch.stride_b, beta, c + i * batch.stride_c);
}

}  // namespace

void gemm(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c, const GemmBatch& batch) {
    gemm_batched(s, alpha, a, b, beta, c, batch);
}
void gemm(const GemmShape& s, double alpha, const double* a, const double* b, double beta, double* c, const GemmBatch& batch) {
    gemm_batched(s, alpha, a, b, beta, c, batch);
}

}  // namespace tf::cpu
