// AVX-512 float32 GEMM microkernel for narrow C (n <= 16), 24 x 16 tile.
// Per k step: one zmm load of the packed B row (16 columns), then 24 FMAs, each taking its
// packed A value as an embedded broadcast ({1to16} memory operand), into 24 zmm accumulators.
// The wide 12 x 32 kernel would compute 32 columns for n <= 16, wasting half or more of its work.
// Write-back follows the contract in microkernel.h.
#include <immintrin.h>

#include "microkernel.h"

namespace tf::cpu {
namespace {

constexpr int MR = 24, NR = 16;

void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, bool accumulate) {
    __m512 acc[MR];
#pragma GCC unroll 24
    for (int r = 0; r < MR; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t p = 0; p < kc; ++p) {
        const __m512 bv = _mm512_loadu_ps(b);
#pragma GCC unroll 24
        for (int r = 0; r < MR; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r]), bv, acc[r]);
        a += MR;
        b += NR;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 24
    for (int r = 0; r < MR; ++r) {
        float* dst = c + r * ldc;
        const __m512 scaled = _mm512_mul_ps(va, acc[r]);
        if (accumulate) _mm512_storeu_ps(dst, _mm512_add_ps(_mm512_loadu_ps(dst), scaled));
        else if (beta == 0.0f) _mm512_storeu_ps(dst, scaled);
        else _mm512_storeu_ps(dst, _mm512_fmadd_ps(vb, _mm512_loadu_ps(dst), scaled));
    }
}

}  // namespace

GemmMicrokernel<float> gemm_microkernel_f32_avx512_narrow() { return {MR, NR, kernel}; }

}  // namespace tf::cpu
