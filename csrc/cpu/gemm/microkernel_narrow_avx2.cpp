// AVX2+FMA float32 GEMM microkernel for narrow C (n <= 8), 12 x 8 tile.
// Per k step: one ymm load of the packed B row (8 columns), 12 broadcasts of the packed A
// column, 12 FMAs into 12 ymm accumulators. The wide 6 x 16 kernel would compute 16 columns
// for n <= 8, wasting half or more of its work. Write-back follows the contract in microkernel.h.
#include <immintrin.h>

#include "microkernel.h"

namespace tf::cpu {
namespace {

constexpr int MR = 12, NR = 8;

void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, bool accumulate) {
    __m256 acc[MR];
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t p = 0; p < kc; ++p) {
        const __m256 bv = _mm256_loadu_ps(b);
#pragma GCC unroll 12
        for (int r = 0; r < MR; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + r), bv, acc[r]);
        a += MR;
        b += NR;
    }
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
        float* dst = c + r * ldc;
        const __m256 scaled = _mm256_mul_ps(va, acc[r]);
        if (accumulate) _mm256_storeu_ps(dst, _mm256_add_ps(_mm256_loadu_ps(dst), scaled));
        else if (beta == 0.0f) _mm256_storeu_ps(dst, scaled);
        else _mm256_storeu_ps(dst, _mm256_fmadd_ps(vb, _mm256_loadu_ps(dst), scaled));
    }
}

}  // namespace

GemmMicrokernel<float> gemm_microkernel_f32_avx2_narrow() { return {MR, NR, kernel}; }

}  // namespace tf::cpu
