// AVX-512 float32 GEMM microkernel, 12 x 32 tile.
// Per k step: two zmm loads of the packed B row (32 columns), 12 broadcasts of the packed A
// column, 24 FMAs into 24 zmm accumulators (12 rows x 2 vectors); 27 of 32 registers in use.
// Edge variant (run_rows): the first ROWS < 12 rows only, from the same 12-row packed A sliver,
// so a ragged last sliver of A (m = 64: 5 x 12 + 4) does not compute its padding rows.
#include <immintrin.h>

#include "microkernel.h"

namespace tf::cpu {
namespace {

constexpr int MR = 12, NR = 32;

template <int ROWS>
void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, bool accumulate) {
    __m512 acc[ROWS][2];
    for (int r = 0; r < ROWS; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t p = 0; p < kc; ++p) {
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        for (int r = 0; r < ROWS; ++r) {
            const __m512 av = _mm512_set1_ps(a[r]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
        a += MR;
        b += NR;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int r = 0; r < ROWS; ++r) {
        for (int h = 0; h < 2; ++h) {
            float* dst = c + r * ldc + h * 16;
            const __m512 scaled = _mm512_mul_ps(va, acc[r][h]);
            if (accumulate) _mm512_storeu_ps(dst, _mm512_add_ps(_mm512_loadu_ps(dst), scaled));
            else if (beta == 0.0f) _mm512_storeu_ps(dst, scaled);
            else _mm512_storeu_ps(dst, _mm512_fmadd_ps(vb, _mm512_loadu_ps(dst), scaled));
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
        case 6: return kernel<6>(kc, a, b, c, ldc, alpha, beta, accumulate);
        case 7: return kernel<7>(kc, a, b, c, ldc, alpha, beta, accumulate);
        case 8: return kernel<8>(kc, a, b, c, ldc, alpha, beta, accumulate);
        case 9: return kernel<9>(kc, a, b, c, ldc, alpha, beta, accumulate);
        case 10: return kernel<10>(kc, a, b, c, ldc, alpha, beta, accumulate);
        case 11: return kernel<11>(kc, a, b, c, ldc, alpha, beta, accumulate);
        default: return kernel<MR>(kc, a, b, c, ldc, alpha, beta, accumulate);
    }
}

}  // namespace

GemmMicrokernel<float> gemm_microkernel_f32_avx512() { return {MR, NR, kernel<MR>, kernel_rows}; }

}  // namespace tf::cpu
