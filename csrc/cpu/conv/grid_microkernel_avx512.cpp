// AVX-512 float32 grid microkernel (grid_microkernel.h), up to 14 pixels x 32 channels.
// Per (channel, tap) step: two zmm loads of the packed weight row, one broadcast per pixel row of
// consecutive input values (one or two cache lines), two FMAs per row into 2 * rows zmm
// accumulators (28 + 3 of 32 registers at 14 rows).
#include <immintrin.h>

#include "grid_microkernel.h"

namespace tf::cpu {
namespace {

constexpr int MR_MAX = 14, NR = 32;

template <int MR>
void kernel(const float* a, int64_t plane, int64_t planes, const int64_t* taps, int64_t ntaps, const float* b,
            float* c, int64_t ldc, bool accumulate) {
    __m512 acc[MR][2];
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t o = 0; o < planes; ++o, a += plane)
        for (int64_t t = 0; t < ntaps; ++t, b += NR) {
            const float* at = a + taps[t];
            const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
            for (int r = 0; r < MR; ++r) {
                const __m512 av = _mm512_set1_ps(at[r]);
                acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
            }
        }
    for (int r = 0; r < MR; ++r) {
        for (int h = 0; h < 2; ++h) {
            float* dst = c + r * ldc + h * 16;
            _mm512_storeu_ps(dst, accumulate ? _mm512_add_ps(_mm512_loadu_ps(dst), acc[r][h]) : acc[r][h]);
        }
    }
}

void run(int rows, const float* a, int64_t plane, int64_t planes, const int64_t* taps, int64_t ntaps, const float* b,
         float* c, int64_t ldc, bool accumulate) {
    switch (rows) {
        case 1: return kernel<1>(a, plane, planes, taps, ntaps, b, c, ldc, accumulate);
        case 2: return kernel<2>(a, plane, planes, taps, ntaps, b, c, ldc, accumulate);
        case 3: return kernel<3>(a, plane, planes, taps, ntaps, b, c, ldc, accumulate);
        case 4: return kernel<4>(a, plane, planes, taps, ntaps, b, c, ldc, accumulate);
        case 5: return kernel<5>(a, plane, planes, taps, ntaps, b, c, ldc, accumulate);
        case 6: return kernel<6>(a, plane, planes, taps, ntaps, b, c, ldc, accumulate);
        case 7: return kernel<7>(a, plane, planes, taps, ntaps, b, c, ldc, accumulate);
        case 8: return kernel<8>(a, plane, planes, taps, ntaps, b, c, ldc, accumulate);
        case 9: return kernel<9>(a, plane, planes, taps, ntaps, b, c, ldc, accumulate);
        case 10: return kernel<10>(a, plane, planes, taps, ntaps, b, c, ldc, accumulate);
        case 11: return kernel<11>(a, plane, planes, taps, ntaps, b, c, ldc, accumulate);
        case 12: return kernel<12>(a, plane, planes, taps, ntaps, b, c, ldc, accumulate);
        case 13: return kernel<13>(a, plane, planes, taps, ntaps, b, c, ldc, accumulate);
        default: return kernel<14>(a, plane, planes, taps, ntaps, b, c, ldc, accumulate);
    }
}

}  // namespace

GridMicrokernel<float> grid_microkernel_f32_avx512() { return {MR_MAX, NR, run}; }

}  // namespace tf::cpu
