// AVX-512 float32 dot kernel (dot_kernel.h). C's columns go in even groups of up to 8; a block
// of R rows x C columns keeps R * C zmm accumulators (R from 2 for C = 8 to 8 for C <= 2), each
// summing 16 k values per FMA from one A row and one B^T row read in place (a masked load for
// the k tail).
// At the end of k, the R * C accumulators are summed horizontally eight at a time by a transpose
// tree (unpack, shuffle, 128-bit lane shuffles), and each row's C sums are written with a mask.
// Rows past the end of a ragged last block read the last row again and are not stored.
#include <immintrin.h>

// GCC 12's AVX-512 headers fill the unused operand of unpack/shuffle intrinsics with a
// self-initialised "undefined" vector, which -Wmaybe-uninitialized reports at every use.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>

#include "dot_kernel.h"

namespace tf::cpu {
namespace {

// Horizontal sums of v[0..7] as the 8 lanes of one ymm.
__m256 sum8(const __m512 v[8]) {
    auto pair = [](__m512 x, __m512 y) { return _mm512_add_ps(_mm512_unpacklo_ps(x, y), _mm512_unpackhi_ps(x, y)); };
    const __m512 t01 = pair(v[0], v[1]), t23 = pair(v[2], v[3]), t45 = pair(v[4], v[5]), t67 = pair(v[6], v[7]);
    auto quad = [](__m512 x, __m512 y) {
        return _mm512_add_ps(_mm512_shuffle_ps(x, y, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(x, y, _MM_SHUFFLE(3, 2, 3, 2)));
    };
    const __m512 u0 = quad(t01, t23), u1 = quad(t45, t67);  // each 128-bit lane: partial sums of 4 vectors
    const __m512 x = _mm512_add_ps(_mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512 y = _mm512_add_ps(x, _mm512_shuffle_f32x4(x, x, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm512_castps512_ps256(_mm512_shuffle_f32x4(y, y, _MM_SHUFFLE(0, 0, 2, 0)));
}

template <int R, int C>
void block(int64_t live_rows, int64_t kc, const float* a, int64_t lda, const float* bt, int64_t ldbt, float* c,
           int64_t ldc, float alpha, float beta, bool accumulate) {
    const float* ar[R];
    for (int r = 0; r < R; ++r) ar[r] = a + std::min<int64_t>(r, live_rows - 1) * lda;
    const float* br[C];
    for (int j = 0; j < C; ++j) br[j] = bt + j * ldbt;
    __m512 acc[R][C];
    for (int r = 0; r < R; ++r)
        for (int j = 0; j < C; ++j) acc[r][j] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 16 <= kc; p += 16) {
        __m512 bv[C];
        for (int j = 0; j < C; ++j) bv[j] = _mm512_loadu_ps(br[j] + p);
        for (int r = 0; r < R; ++r) {
            const __m512 av = _mm512_loadu_ps(ar[r] + p);
            for (int j = 0; j < C; ++j) acc[r][j] = _mm512_fmadd_ps(av, bv[j], acc[r][j]);
        }
    }
    if (p < kc) {
        const __mmask16 tail = static_cast<__mmask16>((1u << (kc - p)) - 1);
        __m512 bv[C];
        for (int j = 0; j < C; ++j) bv[j] = _mm512_maskz_loadu_ps(tail, br[j] + p);
        for (int r = 0; r < R; ++r) {
            const __m512 av = _mm512_maskz_loadu_ps(tail, ar[r] + p);
            for (int j = 0; j < C; ++j) acc[r][j] = _mm512_fmadd_ps(av, bv[j], acc[r][j]);
        }
    }
    // Horizontal sums of all R * C accumulators, eight at a time, into sums[r * C + j].
    alignas(32) float sums[(R * C + 7) / 8 * 8];
    const __m512* flat = &acc[0][0];
    for (int i = 0; i < R * C; i += 8) {
        __m512 v[8];
        for (int e = 0; e < 8; ++e) v[e] = i + e < R * C ? flat[i + e] : _mm512_setzero_ps();
        _mm256_store_ps(sums + i, sum8(v));
    }
    const __mmask8 cols = static_cast<__mmask8>((1u << C) - 1);
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    for (int r = 0; r < R && r < live_rows; ++r) {
        const __m256 s = _mm256_mul_ps(va, _mm256_maskz_loadu_ps(cols, sums + r * C));
        float* dst = c + r * ldc;
        __m256 out;
        if (accumulate) out = _mm256_add_ps(_mm256_maskz_loadu_ps(cols, dst), s);
        else if (beta == 0.0f) out = s;
        else out = _mm256_fmadd_ps(vb, _mm256_maskz_loadu_ps(cols, dst), s);
        _mm256_mask_storeu_ps(dst, cols, out);
    }
}

// Rows per block for C columns: R * C accumulators, R A vectors and C B vectors fit the 32 zmm
// registers, so each k step loads R + C vectors for R * C FMAs.
constexpr int kRows[9] = {0, 8, 8, 7, 5, 4, 3, 3, 2};

// All rows for one group of C columns, in blocks of R rows.
template <int C>
void column_group(int64_t rows, int64_t kc, const float* a, int64_t lda, const float* bt, int64_t ldbt, float* c,
                  int64_t ldc, float alpha, float beta, bool accumulate) {
    constexpr int R = kRows[C];
    for (int64_t i = 0; i < rows; i += R)
        block<R, C>(std::min<int64_t>(R, rows - i), kc, a + i * lda, lda, bt, ldbt, c + i * ldc, ldc, alpha, beta,
                    accumulate);
}

using GroupFn = void (*)(int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t, float, float,
                         bool);
constexpr GroupFn kGroups[9] = {nullptr,          column_group<1>, column_group<2>, column_group<3>, column_group<4>,
                                column_group<5>, column_group<6>, column_group<7>, column_group<8>};

void run(int64_t rows, int64_t n, int64_t kc, const float* a, int64_t lda, const float* bt, int64_t ldbt, float* c,
         int64_t ldc, float alpha, float beta, bool accumulate) {
    // Columns in groups of at most 8, as even as possible (n = 10: 5 + 5).
    const int64_t groups = (n + 7) / 8;
    for (int64_t g = 0, j = 0; g < groups; ++g) {
        const int64_t cols = n * (g + 1) / groups - n * g / groups;
        kGroups[cols](rows, kc, a, lda, bt + j * ldbt, ldbt, c + j, ldc, alpha, beta, accumulate);
        j += cols;
    }
}

}  // namespace

DotKernel dot_kernel_f32_avx512() { return {run}; }

}  // namespace tf::cpu
