// AVX2 operand packing for the attention kernel (pack_ops.h): the w x cols block is cut into
// 8 x 8 tiles (rows r0.., columns p0..); each tile is loaded as 8 rows (missing rows zero, a
// short column tail through a masked load), transposed in registers (unpack, shuffle, 128-bit
// permute) and stored as 8 groups of up to 8 values (a short row tail as 4 + 2 + 1 lane stores:
// vmaskmovps stores are slow on AMD).
#ifdef TENSORFORGE_HAVE_X86_KERNELS
#include <immintrin.h>

#include <algorithm>

#include "pack_ops.h"

namespace tf::cpu {
namespace {

// Lanes [0, n) set, n in [0, 8].
__m256i lane_mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Stores lanes [0, n) of x to dst, n < 8.
void store_lanes(float* dst, __m256 x, int64_t n) {
    __m128 h = _mm256_castps256_ps128(x);
    if (n & 4) {
        _mm_storeu_ps(dst, h);
        h = _mm256_extractf128_ps(x, 1);
        dst += 4;
    }
    if (n & 2) {
        _mm_storel_pi(reinterpret_cast<__m64*>(dst), h);
        h = _mm_movehl_ps(h, h);
        dst += 2;
    }
    if (n & 1) _mm_store_ss(dst, h);
}

void transpose8(__m256 x[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(x[0], x[1]), t1 = _mm256_unpackhi_ps(x[0], x[1]);
    const __m256 t2 = _mm256_unpacklo_ps(x[2], x[3]), t3 = _mm256_unpackhi_ps(x[2], x[3]);
    const __m256 t4 = _mm256_unpacklo_ps(x[4], x[5]), t5 = _mm256_unpackhi_ps(x[4], x[5]);
    const __m256 t6 = _mm256_unpacklo_ps(x[6], x[7]), t7 = _mm256_unpackhi_ps(x[6], x[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    x[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    x[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    x[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    x[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    x[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    x[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    x[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    x[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

void interleave_rows(const float* a, int64_t lda, int64_t rows, int64_t w, int64_t cols, float* d) {
    for (int64_t r0 = 0; r0 < w; r0 += 8) {
        const int64_t width = std::min<int64_t>(8, w - r0);
        const int64_t live = std::clamp<int64_t>(rows - r0, 0, width);
        for (int64_t p0 = 0; p0 < cols; p0 += 8) {
            const int64_t np = std::min<int64_t>(8, cols - p0);
            const __m256i load_mask = lane_mask(np);
            __m256 x[8];
            for (int64_t k = 0; k < 8; ++k) {
                const float* src = a + (r0 + k) * lda + p0;
                x[k] = k >= live ? _mm256_setzero_ps() : np == 8 ? _mm256_loadu_ps(src) : _mm256_maskload_ps(src, load_mask);
            }
            transpose8(x);
            float* dst = d + p0 * w + r0;
            if (width == 8)
                for (int64_t k = 0; k < np; ++k) _mm256_storeu_ps(dst + k * w, x[k]);
            else
                for (int64_t k = 0; k < np; ++k) store_lanes(dst + k * w, x[k], width);
        }
    }
}

}  // namespace

AttentionInterleaveRows<float> attention_interleave_rows_f32_avx2() { return &interleave_rows; }

}  // namespace tf::cpu
#endif
