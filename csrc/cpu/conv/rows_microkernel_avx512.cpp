// AVX-512 float32 rows microkernel (rows_microkernel.h), 12 x 32 tile.
// Per k step (pixel): two zmm loads of the packed B row, 12 broadcasts from the 12 A rows (12 sequential
// streams, one pointer each), 24 FMAs into 24 zmm accumulators.
#include <immintrin.h>

#include "rows_microkernel.h"

namespace tf::cpu {
namespace {

constexpr int MR = 12, NR = 32;

void kernel(int64_t segs, int64_t seg_len, int64_t seg_stride, const float* const* rows, const float* b, float* c,
            int64_t ldc, bool accumulate) {
    __m512 acc[MR][2];
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    const float* a[MR];
    for (int r = 0; r < MR; ++r) a[r] = rows[r];
    for (int64_t sg = 0; sg < segs; ++sg) {
        for (int64_t p = 0; p < seg_len; ++p, b += NR) {
            const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
            for (int r = 0; r < MR; ++r) {
                const __m512 av = _mm512_set1_ps(a[r][p]);
                acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
            }
        }
        for (int r = 0; r < MR; ++r) a[r] += seg_stride;
    }
    for (int r = 0; r < MR; ++r)
        for (int h = 0; h < 2; ++h) {
            float* dst = c + r * ldc + h * 16;
            _mm512_storeu_ps(dst, accumulate ? _mm512_add_ps(_mm512_loadu_ps(dst), acc[r][h]) : acc[r][h]);
        }
}

}  // namespace

RowsMicrokernel<float> rows_microkernel_f32_avx512() { return {MR, NR, kernel}; }

}  // namespace tf::cpu
