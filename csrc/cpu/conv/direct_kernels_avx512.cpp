// AVX-512 float32 kernels of the direct conv2d path (direct_kernels.h).
// forward: 4 output channels x 64 pixels in 16 zmm accumulators; per tap four panel loads, four
//   weight broadcasts, 16 FMAs; ragged pixel tails are written with masked stores.
// grad_weight: 2 output channels x up to 9 taps in 18 zmm accumulators (kept in acc between
//   calls); per 16 pixels two dy loads (masked at the tail), one panel load and two FMAs per tap.
#include <immintrin.h>

#include "direct_kernels.h"

namespace tf::cpu {
namespace {

constexpr int FWD_MB = 4, FWD_V = 4, TILE = 16 * FWD_V, GW_MB = 2, GW_KB = 9;

__mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1); }

template <int MB>
void forward_block(int64_t k, const float* w, const float* panel, int64_t ldp, const float* bias, float* y,
                   int64_t ldy, int64_t ncols) {
    __m512 acc[MB][FWD_V];
    for (int r = 0; r < MB; ++r)
        for (int v = 0; v < FWD_V; ++v) acc[r][v] = bias ? _mm512_set1_ps(bias[r]) : _mm512_setzero_ps();
    for (int64_t t = 0; t < k; ++t) {
        __m512 p[FWD_V];
        for (int v = 0; v < FWD_V; ++v) p[v] = _mm512_loadu_ps(panel + t * ldp + 16 * v);
        for (int r = 0; r < MB; ++r) {
            const __m512 wv = _mm512_set1_ps(w[r * k + t]);
            for (int v = 0; v < FWD_V; ++v) acc[r][v] = _mm512_fmadd_ps(wv, p[v], acc[r][v]);
        }
    }
    if (ncols == TILE) {
        for (int r = 0; r < MB; ++r)
            for (int v = 0; v < FWD_V; ++v) _mm512_storeu_ps(y + r * ldy + 16 * v, acc[r][v]);
        return;
    }
    for (int r = 0; r < MB; ++r)
        for (int v = 0; v < FWD_V; ++v) _mm512_mask_storeu_ps(y + r * ldy + 16 * v, lanes(ncols - 16 * v), acc[r][v]);
}

void forward(int64_t k, const float* w, int mb, const float* panel, int64_t ldp, const float* bias, float* y,
             int64_t ldy, int64_t ncols) {
    switch (mb) {
        case 1: return forward_block<1>(k, w, panel, ldp, bias, y, ldy, ncols);
        case 2: return forward_block<2>(k, w, panel, ldp, bias, y, ldy, ncols);
        case 3: return forward_block<3>(k, w, panel, ldp, bias, y, ldy, ncols);
        default: return forward_block<4>(k, w, panel, ldp, bias, y, ldy, ncols);
    }
}

// One step of 16 pixels: a[r][t] += d[r] * panel row t.
template <int MB, int KB>
__attribute__((always_inline)) inline void grad_weight_step(__m512 (&a)[MB][KB], const __m512 (&d)[MB],
                                                            const float* panel, int64_t ldp) {
    for (int t = 0; t < KB; ++t) {
        const __m512 p = _mm512_loadu_ps(panel + t * ldp);
        for (int r = 0; r < MB; ++r) a[r][t] = _mm512_fmadd_ps(d[r], p, a[r][t]);
    }
}

template <int MB, int KB>
void grad_weight_block(const float* dy, int64_t ldy, const float* panel, int64_t ldp, int64_t ncols, float* acc,
                       int64_t lda) {
    __m512 a[MB][KB];
    for (int r = 0; r < MB; ++r)
        for (int t = 0; t < KB; ++t) a[r][t] = _mm512_loadu_ps(acc + r * lda + 16 * t);
    int64_t c = 0;
    for (; c + 16 <= ncols; c += 16) {
        __m512 d[MB];
        for (int r = 0; r < MB; ++r) d[r] = _mm512_loadu_ps(dy + r * ldy + c);
        grad_weight_step<MB, KB>(a, d, panel + c, ldp);
    }
    if (c < ncols) {  // the last, partial step: dy lanes past ncols read as zero
        __m512 d[MB];
        for (int r = 0; r < MB; ++r) d[r] = _mm512_maskz_loadu_ps(lanes(ncols - c), dy + r * ldy + c);
        grad_weight_step<MB, KB>(a, d, panel + c, ldp);
    }
    for (int r = 0; r < MB; ++r)
        for (int t = 0; t < KB; ++t) _mm512_storeu_ps(acc + r * lda + 16 * t, a[r][t]);
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
        case 6: return grad_weight_block<MB, 6>(dy, ldy, panel, ldp, ncols, acc, lda);
        case 7: return grad_weight_block<MB, 7>(dy, ldy, panel, ldp, ncols, acc, lda);
        case 8: return grad_weight_block<MB, 8>(dy, ldy, panel, ldp, ncols, acc, lda);
        default: return grad_weight_block<MB, 9>(dy, ldy, panel, ldp, ncols, acc, lda);
    }
}

void grad_weight(int kb, int mb, const float* dy, int64_t ldy, const float* panel, int64_t ldp, int64_t ncols,
                 float* acc, int64_t lda) {
    switch (mb) {
        case 1: return grad_weight_rows<1>(kb, dy, ldy, panel, ldp, ncols, acc, lda);
        default: return grad_weight_rows<2>(kb, dy, ldy, panel, ldp, ncols, acc, lda);
    }
}

}  // namespace

DirectKernels<float> direct_kernels_f32_avx512() { return {FWD_MB, TILE, GW_MB, GW_KB, 16, forward, grad_weight}; }

}  // namespace tf::cpu
