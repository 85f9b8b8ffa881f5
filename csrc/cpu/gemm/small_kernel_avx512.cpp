// AVX-512 float32 small-product kernel (small_kernel.h): a ROWS x 32 tile (ROWS <= 12) kept in
// 2 * ROWS zmm accumulators. Per k step: two loads of B's row p in place (masked past the last
// column), ROWS broadcasts of A read through its strides, 2 * ROWS FMAs; the tile is written with
// the same masks. Nothing is packed, so there is nothing to zero-pad either.
#include <immintrin.h>

#include "small_kernel.h"

namespace tf::cpu {
namespace {

template <int ROWS>
void kernel(int64_t kc, int cols, const float* a, int64_t a_rs, int64_t a_ps, const float* b, int64_t ldb, float* c,
            int64_t ldc, float alpha, float beta) {
    const __mmask16 m0 = static_cast<__mmask16>(cols >= 16 ? 0xffff : (1u << cols) - 1);
    const __mmask16 m1 = static_cast<__mmask16>(cols >= 32 ? 0xffff : cols <= 16 ? 0 : (1u << (cols - 16)) - 1);
    __m512 acc0[ROWS], acc1[ROWS];  // columns 0-15 and 16-31 of each row
#pragma GCC unroll 12
    for (int r = 0; r < ROWS; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
    for (int64_t p = 0; p < kc; ++p) {
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, b), b1 = _mm512_maskz_loadu_ps(m1, b + 16);
#pragma GCC unroll 12
        for (int r = 0; r < ROWS; ++r) {
            const __m512 av = _mm512_set1_ps(a[r * a_rs]);
            acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
        }
        a += a_ps;
        b += ldb;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
    for (int r = 0; r < ROWS; ++r) {
        __m512 out0 = _mm512_mul_ps(va, acc0[r]), out1 = _mm512_mul_ps(va, acc1[r]);
        if (beta != 0.0f) {
            out0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c + r * ldc), out0);
            out1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + r * ldc + 16), out1);
        }
        _mm512_mask_storeu_ps(c + r * ldc, m0, out0);
        _mm512_mask_storeu_ps(c + r * ldc + 16, m1, out1);
    }
}

void run(int64_t kc, int rows, int cols, const float* a, int64_t a_rs, int64_t a_ps, const float* b, int64_t ldb,
         float* c, int64_t ldc, float alpha, float beta) {
    switch (rows) {
        case 1: return kernel<1>(kc, cols, a, a_rs, a_ps, b, ldb, c, ldc, alpha, beta);
        case 2: return kernel<2>(kc, cols, a, a_rs, a_ps, b, ldb, c, ldc, alpha, beta);
        case 3: return kernel<3>(kc, cols, a, a_rs, a_ps, b, ldb, c, ldc, alpha, beta);
        case 4: return kernel<4>(kc, cols, a, a_rs, a_ps, b, ldb, c, ldc, alpha, beta);
        case 5: return kernel<5>(kc, cols, a, a_rs, a_ps, b, ldb, c, ldc, alpha, beta);
        case 6: return kernel<6>(kc, cols, a, a_rs, a_ps, b, ldb, c, ldc, alpha, beta);
        case 7: return kernel<7>(kc, cols, a, a_rs, a_ps, b, ldb, c, ldc, alpha, beta);
        case 8: return kernel<8>(kc, cols, a, a_rs, a_ps, b, ldb, c, ldc, alpha, beta);
        case 9: return kernel<9>(kc, cols, a, a_rs, a_ps, b, ldb, c, ldc, alpha, beta);
        case 10: return kernel<10>(kc, cols, a, a_rs, a_ps, b, ldb, c, ldc, alpha, beta);
        case 11: return kernel<11>(kc, cols, a, a_rs, a_ps, b, ldb, c, ldc, alpha, beta);
        default: return kernel<SMALL_MR>(kc, cols, a, a_rs, a_ps, b, ldb, c, ldc, alpha, beta);
    }
}

}  // namespace

SmallKernel small_kernel_f32_avx512() { return {run}; }

}  // namespace tf::cpu
