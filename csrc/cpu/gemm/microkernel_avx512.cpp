// AVX-512 float32 GEMM microkernel, 12 x 32 tile.
// Per k step: two zmm loads of the packed B row (32 columns), 12 broadcasts of the packed A
// column, 24 FMAs into 24 zmm accumulators (12 rows x 2 vectors); 27 of 32 registers in use.
#include <immintrin.h>

#include "microkernel.h"

namespace tf::cpu {
namespace {

constexpr int MR = 12, NR = 32;

void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, bool accumulate) {
    __m512 acc[MR][2];
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t p = 0; p < kc; ++p) {
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        for (int r = 0; r < MR; ++r) {
            const __m512 av = _mm512_set1_ps(a[r]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
        a += MR;
        b += NR;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int r = 0; r < MR; ++r) {
        for (int h = 0; h < 2; ++h) {
            float* dst = c + r * ldc + h * 16;
            const __m512 scaled = _mm512_mul_ps(va, acc[r][h]);
            if (accumulate) _mm512_storeu_ps(dst, _mm512_add_ps(_mm512_loadu_ps(dst), scaled));
            else if (beta == 0.0f) _mm512_storeu_ps(dst, scaled);
            else _mm512_storeu_ps(dst, _mm512_fmadd_ps(vb, _mm512_loadu_ps(dst), scaled));
        }
    }
}

}  // namespace

GemmMicrokernel<float> gemm_microkernel_f32_avx512() { return {MR, NR, kernel}; }

}  // namespace tf::cpu
