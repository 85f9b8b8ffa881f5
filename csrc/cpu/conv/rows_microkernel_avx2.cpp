// AVX2+FMA float32 rows microkernel (rows_microkernel.h), 6 x 16 tile.
// Per k step (pixel): two ymm loads of the packed B row, 6 broadcasts from the 6 A rows, 12 FMAs into
// 12 ymm accumulators.
#include <immintrin.h>

#include "rows_microkernel.h"

namespace tf::cpu {
namespace {

constexpr int MR = 6, NR = 16;

void kernel(int64_t segs, int64_t seg_len, int64_t seg_stride, const float* const* rows, const float* b, float* c,
            int64_t ldc, bool accumulate) {
    __m256 acc[MR][2];
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    const float* a[MR];
    for (int r = 0; r < MR; ++r) a[r] = rows[r];
    for (int64_t sg = 0; sg < segs; ++sg) {
        for (int64_t p = 0; p < seg_len; ++p, b += NR) {
            const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
            for (int r = 0; r < MR; ++r) {
                const __m256 av = _mm256_broadcast_ss(a[r] + p);
                acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
            }
        }
        for (int r = 0; r < MR; ++r) a[r] += seg_stride;
    }
    for (int r = 0; r < MR; ++r)
        for (int h = 0; h < 2; ++h) {
            float* dst = c + r * ldc + h * 8;
            _mm256_storeu_ps(dst, accumulate ? _mm256_add_ps(_mm256_loadu_ps(dst), acc[r][h]) : acc[r][h]);
        }
}

}  // namespace

RowsMicrokernel<float> rows_microkernel_f32_avx2() { return {MR, NR, kernel}; }

}  // namespace tf::cpu
