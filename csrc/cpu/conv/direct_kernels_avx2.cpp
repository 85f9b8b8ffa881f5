// AVX2+FMA float32 kernels of the direct conv2d path (direct_kernels.h).
// forward: 6 output channels x 16 pixels in 12 ymm accumulators; per tap two panel loads, six
//   weight broadcasts, 12 FMAs; ragged pixel tails are written with masked stores.
// grad_weight: 2 output channels x up to 6 taps in 12 ymm accumulators (kept in acc between
//   calls); per 8 pixels two dy loads (masked at the tail), one panel load and two FMAs per tap.
#include <immintrin.h>

#include "direct_kernels.h"

namespace tf::cpu {
namespace {

constexpr int FWD_MB = 6, FWD_V = 2, TILE = 8 * FWD_V, GW_MB = 2, GW_KB = 6;

__m256i lanes(int64_t n) {
    const int count = n >= 8 ? 8 : n <= 0 ? 0 : int(n);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

template <int MB>
void forward_block(int64_t k, const float* w, const float* panel, int64_t ldp, const float* bias, float* y,
                   int64_t ldy, int64_t ncols) {
    __m256 acc[MB][FWD_V];
    for (int r = 0; r < MB; ++r)
        for (int v = 0; v < FWD_V; ++v) acc[r][v] = bias ? _mm256_set1_ps(bias[r]) : _mm256_setzero_ps();
    for (int64_t t = 0; t < k; ++t) {
        __m256 p[FWD_V];
        for (int v = 0; v < FWD_V; ++v) p[v] = _mm256_loadu_ps(panel + t * ldp + 8 * v);
        for (int r = 0; r < MB; ++r) {
            const __m256 wv = _mm256_broadcast_ss(w + r * k + t);
            for (int v = 0; v < FWD_V; ++v) acc[r][v] = _mm256_fmadd_ps(wv, p[v], acc[r][v]);
        }
    }
    if (ncols == TILE) {
        for (int r = 0; r < MB; ++r)
            for (int v = 0; v < FWD_V; ++v) _mm256_storeu_ps(y + r * ldy + 8 * v, acc[r][v]);
        return;
    }
    for (int r = 0; r < MB; ++r)
        for (int v = 0; v < FWD_V; ++v) _mm256_maskstore_ps(y + r * ldy + 8 * v, lanes(ncols - 8 * v), acc[r][v]);
}

void forward(int64_t k, const float* w, int mb, const float* panel, int64_t ldp, const float* bias, float* y,
             int64_t ldy, int64_t ncols) {
    switch (mb) {
        case 1: return forward_block<1>(k, w, panel, ldp, bias, y, ldy, ncols);
        case 2: return forward_block<2>(k, w, panel, ldp, bias, y, ldy, ncols);
        case 3: return forward_block<3>(k, w, panel, ldp, bias, y, ldy, ncols);
        case 4: return forward_block<4>(k, w, panel, ldp, bias, y, ldy, ncols);
        case 5: return forward_block<5>(k, w, panel, ldp, bias, y, ldy, ncols);
        default: return forward_block<6>(k, w, panel, ldp, bias, y, ldy, ncols);
    }
}

// One step of 8 pixels: a[r][t] += d[r] * panel row t.
template <int MB, int KB>
__attribute__((always_inline)) inline void grad_weight_step(__m256 (&a)[MB][KB], const __m256 (&d)[MB],
                                                            const float* panel, int64_t ldp) {
    for (int t = 0; t < KB; ++t) {
        const __m256 p = _mm256_loadu_ps(panel + t * ldp);
        for (int r = 0; r < MB; ++r) a[r][t] = _mm256_fmadd_ps(d[r], p, a[r][t]);
    }
}

template <int MB, int KB>
void grad_weight_block(const float* dy, int64_t ldy, const float* panel, int64_t ldp, int64_t ncols, float* acc,
                       int64_t lda) {
    __m256 a[MB][KB];
    for (int r = 0; r < MB; ++r)
        for (int t = 0; t < KB; ++t) a[r][t] = _mm256_loadu_ps(acc + r * lda + 8 * t);
    int64_t c = 0;
    for (; c + 8 <= ncols; c += 8) {
        __m256 d[MB];
        for (int r = 0; r < MB; ++r) d[r] = _mm256_loadu_ps(dy + r * ldy + c);
        grad_weight_step<MB, KB>(a, d, panel + c, ldp);
    }
    if (c < ncols) {  // the last, partial step: dy lanes past ncols read as zero
        __m256 d[MB];
        for (int r = 0; r < MB; ++r) d[r] = _mm256_maskload_ps(dy + r * ldy + c, lanes(ncols - c));
        grad_weight_step<MB, KB>(a, d, panel + c, ldp);
    }
    for (int r = 0; r < MB; ++r)
        for (int t = 0; t < KB; ++t) _mm256_storeu_ps(acc + r * lda + 8 * t, a[r][t]);
}

template <int MB>
void grad_weight_rows(int kb, const float* dy, int64_t ldy, const float* panel, int64_t ldp, int64_t ncols,
                      float* acc, int64_t lda) {
    switch (kb) {
        case 1: return grad_weight_block<MB, 1>(dy, ldy, panel, ldp, ncols, acc, lda);
        case 2: return grad_weight_block<MB, 2>(dy, ldy, panel, ldp, ncols, acc, lda);
        case 3: return grad_weight_block<MB, 3>(dy, ldy, panel, ldp, ncols, acc, lda);
        case 4: return grad_weight_block<MB, 4>(dy, ldy, panel, ldp, ncols, acc, lda);
        case 5: return grad_weight_block<MB, 5>(dy, ldy, panel, ldp, ncols, acc, lda);
        default: return grad_weight_block<MB, 6>(dy, ldy, panel, ldp, ncols, acc, lda);
    }
}

void grad_weight(int kb, int mb, const float* dy, int64_t ldy, const float* panel, int64_t ldp, int64_t ncols,
                 float* acc, int64_t lda) {
    if (mb == 1) return grad_weight_rows<1>(kb, dy, ldy, panel, ldp, ncols, acc, lda);
    grad_weight_rows<2>(kb, dy, ldy, panel, ldp, ncols, acc, lda);
}

}  // namespace

DirectKernels<float> direct_kernels_f32_avx2() { return {FWD_MB, TILE, GW_MB, GW_KB, 8, forward, grad_weight}; }

}  // namespace tf::cpu
