// AVX2+FMA float32 GEMM microkernel, 6 x 16 tile.
// Per k step: two ymm loads of the packed B row (16 columns), 6 broadcasts of the packed A
// column, 12 FMAs into 12 ymm accumulators (6 rows x 2 vectors); 15 of 16 registers in use.
// Edge variant (run_rows): the first ROWS < 6 rows only, from the same 6-row packed A sliver,
// so a ragged last sliver of A (m = 64: 10 x 6 + 4) does not compute its padding rows.
#include <immintrin.h>

#include "microkernel.h"

namespace tf::cpu {
namespace {

constexpr int MR = 6, NR = 16;

template <int ROWS>
void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, bool accumulate) {
    __m256 acc[ROWS][2];
    for (int r = 0; r < ROWS; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t p = 0; p < kc; ++p) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        for (int r = 0; r < ROWS; ++r) {
            const __m256 av = _mm256_broadcast_ss(a + r);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
        a += MR;
        b += NR;
    }
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    for (int r = 0; r < ROWS; ++r) {
        for (int h = 0; h < 2; ++h) {
            float* dst = c + r * ldc + h * 8;
            const __m256 scaled = _mm256_mul_ps(va, acc[r][h]);
            if (accumulate) _mm256_storeu_ps(dst, _mm256_add_ps(_mm256_loadu_ps(dst), scaled));
            else if (beta == 0.0f) _mm256_storeu_ps(dst, scaled);
            else _mm256_storeu_ps(dst, _mm256_fmadd_ps(vb, _mm256_loadu_ps(dst), scaled));
        }
    }
}

void kernel_rows(int64_t kc, int rows, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta,
                 bool accumulate) {
    switch (rows) {
        case 1: return kernel<1>(kc, a, b, c, ldc, alpha, beta, accumulate);
        case 2: return kernel<2>(kc, a, b, c, ldc, alpha, beta, accumulate);
        case 3: return kernel<3>(kc, a, b, c, ldc, alpha, beta, accumulate);
        case 4: return kernel<4>(kc, a, b, c, ldc, alpha, beta, accumulate);
        case 5: return kernel<5>(kc, a, b, c, ldc, alpha, beta, accumulate);
        default: return kernel<MR>(kc, a, b, c, ldc, alpha, beta, accumulate);
    }
}

}  // namespace

GemmMicrokernel<float> gemm_microkernel_f32_avx2() { return {MR, NR, kernel<MR>, kernel_rows}; }

}  // namespace tf::cpu
