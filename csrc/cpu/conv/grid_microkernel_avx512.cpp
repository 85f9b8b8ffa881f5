// AVX-512 float32 grid microkernel (grid_microkernel.h), up to 14 pixels x 32 channels.
// Per (channel, tap) step: two zmm loads of the packed weight row, one broadcast per pixel row of
// consecutive input values (one or two cache lines), two FMAs per row into 2 * rows zmm
// accumulators (28 + 3 of 32 registers at 14 rows); the FMAs of edge pixels that read zero
// padding for a tap are left out (grid_microkernel.h: edges). A tile is up to 14 pixels of one output row,
// or two or three whole output rows of 4 to 7 pixels (small late-network images: consecutive rows
// of one image, or the same row of consecutive images).
#include <immintrin.h>

#include "grid_microkernel.h"

namespace tf::cpu {
namespace {

constexpr int MR_MAX = 14, NR = 32;

// One (channel, tap) step: the pixels of the tile, but each row's first (EDGES bit 0) or last
// (bit 1) pixel when it reads zero padding for this tap.
template <int MR, int W, int EDGES>
inline void step(const float* at, int64_t jump, __m512 b0, __m512 b1, __m512 (&acc)[MR][2]) {
    for (int r = 0; r < MR; ++r) {
        if (((EDGES & 1) && r % W == 0) || ((EDGES & 2) && r % W == W - 1)) continue;
        const __m512 av = _mm512_set1_ps(at[r / W * jump + r % W]);
        acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
    }
}

// Pixel r of the tile reads a[(r / W) * jump + r % W]: W pixels of each of MR / W output rows, `jump` apart.
template <int MR, int W>
void kernel(const float* a, int64_t jump, int64_t plane, int64_t planes, const int64_t* taps, int64_t ntaps,
            const unsigned char* edges, const float* b, int64_t b_plane, float* c, int64_t ldc, bool accumulate) {
    __m512 acc[MR][2];
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t o = 0; o < planes; ++o, a += plane, b += b_plane - ntaps * NR)
        for (int64_t t = 0; t < ntaps; ++t, b += NR) {
            const float* at = a + taps[t];
            const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
            switch (W > 1 && edges ? edges[t] : 0) {
                case 0: step<MR, W, 0>(at, jump, b0, b1, acc); break;
                case 1: step<MR, W, 1>(at, jump, b0, b1, acc); break;
                case 2: step<MR, W, 2>(at, jump, b0, b1, acc); break;
                default: step<MR, W, 3>(at, jump, b0, b1, acc); break;
            }
        }
    for (int r = 0; r < MR; ++r) {
        for (int h = 0; h < 2; ++h) {
            float* dst = c + r * ldc + h * 16;
            _mm512_storeu_ps(dst, accumulate ? _mm512_add_ps(_mm512_loadu_ps(dst), acc[r][h]) : acc[r][h]);
        }
    }
}

void run(int rows, int width, int64_t jump, const float* a, int64_t plane, int64_t planes, const int64_t* taps,
         int64_t ntaps, const unsigned char* edges, const float* b, int64_t b_plane, float* c, int64_t ldc,
         bool accumulate) {
    // one output row: rows == width; two or three short rows (width 4..7): the pairs below
    switch (rows == width ? rows : rows * 16 + width) {
#define TF_GRID(key, mr, w) \
    case key: return kernel<mr, w>(a, jump, plane, planes, taps, ntaps, edges, b, b_plane, c, ldc, accumulate);
        TF_GRID(1, 1, 1) TF_GRID(2, 2, 2) TF_GRID(3, 3, 3) TF_GRID(4, 4, 4) TF_GRID(5, 5, 5) TF_GRID(6, 6, 6)
        TF_GRID(7, 7, 7) TF_GRID(8, 8, 8) TF_GRID(9, 9, 9) TF_GRID(10, 10, 10) TF_GRID(11, 11, 11) TF_GRID(12, 12, 12)
        TF_GRID(13, 13, 13) TF_GRID(14, 14, 14)
        TF_GRID(14 * 16 + 7, 14, 7) TF_GRID(12 * 16 + 6, 12, 6) TF_GRID(10 * 16 + 5, 10, 5) TF_GRID(12 * 16 + 4, 12, 4)
        TF_GRID(8 * 16 + 4, 8, 4)
#undef TF_GRID
        default: return;  // the driver asks for no other shape (grid_microkernel.h: multi_row)
    }
}

}  // namespace

GridMicrokernel<float> grid_microkernel_f32_avx512() { return {MR_MAX, NR, true, run}; }

}  // namespace tf::cpu
