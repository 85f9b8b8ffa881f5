// AVX2+FMA float32 grid microkernel (grid_microkernel.h), up to 6 pixels x 16 channels.
// Per (channel, tap) step: two ymm loads of the packed weight row, one broadcast per pixel row of
// consecutive input values, two FMAs per row into 2 * rows ymm accumulators (12 at 6 rows).
#include <immintrin.h>

#include "grid_microkernel.h"

namespace tf::cpu {
namespace {

constexpr int MR_MAX = 6, NR = 16;

template <int MR>
void kernel(const float* a, int64_t plane, int64_t planes, const int64_t* taps, int64_t ntaps, const float* b,
            int64_t b_plane, float* c, int64_t ldc, bool accumulate) {  // one output row
    __m256 acc[MR][2];
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t o = 0; o < planes; ++o, a += plane, b += b_plane - ntaps * NR)
        for (int64_t t = 0; t < ntaps; ++t, b += NR) {
            const float* at = a + taps[t];
            const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
            for (int r = 0; r < MR; ++r) {
                const __m256 av = _mm256_broadcast_ss(at + r);
                acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
            }
        }
    for (int r = 0; r < MR; ++r) {
        for (int h = 0; h < 2; ++h) {
            float* dst = c + r * ldc + h * 8;
            _mm256_storeu_ps(dst, accumulate ? _mm256_add_ps(_mm256_loadu_ps(dst), acc[r][h]) : acc[r][h]);
        }
    }
}

void run(int rows, int, int64_t, const float* a, int64_t plane, int64_t planes, const int64_t* taps, int64_t ntaps,
         const unsigned char*, const float* b, int64_t b_plane, float* c, int64_t ldc, bool accumulate) {
    switch (rows) {
        case 1: return kernel<1>(a, plane, planes, taps, ntaps, b, b_plane, c, ldc, accumulate);
        case 2: return kernel<2>(a, plane, planes, taps, ntaps, b, b_plane, c, ldc, accumulate);
        case 3: return kernel<3>(a, plane, planes, taps, ntaps, b, b_plane, c, ldc, accumulate);
        case 4: return kernel<4>(a, plane, planes, taps, ntaps, b, b_plane, c, ldc, accumulate);
        case 5: return kernel<5>(a, plane, planes, taps, ntaps, b, b_plane, c, ldc, accumulate);
        default: return kernel<6>(a, plane, planes, taps, ntaps, b, b_plane, c, ldc, accumulate);
    }
}

}  // namespace

GridMicrokernel<float> grid_microkernel_f32_avx2() { return {MR_MAX, NR, false, run}; }

}  // namespace tf::cpu
