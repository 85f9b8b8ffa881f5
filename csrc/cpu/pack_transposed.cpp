// The transposing pack: rows of a row-major matrix into NR-wide slivers [d][lane]. Used by the
// GEMM (row-major A into MR-row slivers, transposed B into NR-column slivers) and by the conv2d
// drivers (rows of dy or im2col into the rows microkernels' slivers, weight rows into the grid
// microkernels' slivers). Baseline unit: float moves 4 rows x 4 values at a
// time through SSE registers (_MM_TRANSPOSE4_PS, baseline x86-64), so every store writes 4
// consecutive lanes; other types and targets (aarch64) copy value by value.
#include "pack_transposed.h"

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace tf::cpu {
namespace {

// Lanes [lane0, lane0 + lanes) of one sliver, value by value (zero past count).
template <typename T>
void pack_lanes(const T* src, int64_t ld, int64_t count, int64_t len, int nr, int64_t lane0, int64_t lanes, T* dst) {
    for (int64_t d = 0; d < len; ++d)
        for (int64_t l = lane0; l < lane0 + lanes; ++l) dst[d * nr + l] = l < count ? src[l * ld + d] : T(0);
}

// Four whole rows into lanes [lane0, lane0 + 4); returns the values done (a multiple of 4).
template <typename T>
int64_t pack_four_rows(const T*, int64_t, int64_t, int, int64_t, T*) { return 0; }
#if defined(__SSE2__)
template <>
int64_t pack_four_rows<float>(const float* src, int64_t ld, int64_t len, int nr, int64_t lane0, float* dst) {
    const float* r0 = src + lane0 * ld;
    int64_t d = 0;
    for (; d + 4 <= len; d += 4) {
        __m128 x0 = _mm_loadu_ps(r0 + d), x1 = _mm_loadu_ps(r0 + ld + d);
        __m128 x2 = _mm_loadu_ps(r0 + 2 * ld + d), x3 = _mm_loadu_ps(r0 + 3 * ld + d);
        _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
        float* o = dst + d * nr + lane0;
        _mm_storeu_ps(o, x0);
        _mm_storeu_ps(o + nr, x1);
        _mm_storeu_ps(o + 2 * nr, x2);
        _mm_storeu_ps(o + 3 * nr, x3);
    }
    return d;
}
#endif

}  // namespace

template <typename T>
void pack_transposed(const T* src, int64_t ld, int64_t count, int64_t len, int nr, int64_t sliver_stride, T* dst) {
    for (int64_t sl = 0; sl * nr < count; ++sl, dst += sliver_stride, src += nr * ld) {
        const int64_t live = count - sl * nr;
        int64_t lane0 = 0;
        for (; lane0 + 4 <= nr && lane0 + 4 <= live; lane0 += 4) {
            const int64_t done = pack_four_rows(src, ld, len, nr, lane0, dst);
            pack_lanes(src + done, ld, live, len - done, nr, lane0, 4, dst + done * nr);
        }
        pack_lanes(src, ld, live, len, nr, lane0, nr - lane0, dst);
    }
}

template void pack_transposed<float>(const float*, int64_t, int64_t, int64_t, int, int64_t, float*);
template void pack_transposed<double>(const double*, int64_t, int64_t, int64_t, int, int64_t, double*);

}  // namespace tf::cpu
