// Max pooling, forward (values + flat argmax indices) and backward (scatter-add through the indices).
//
// Row by row, tap by tap with branch-free updates (see forward()); planes of the NCHW stack are
// independent and split across the thread pool. A NaN in the window wins, and among
// equal maxima the first one does, as in PyTorch. The backward zeroes dx and adds each dy to the
// element its index names; overlapping windows (stride < kernel) accumulate.
#include <tensorforge/pool2d.h>

#include <limits>
#include <vector>

#include "../thread_pool.h"
#include "pool_window.h"

namespace tf::cpu {
namespace {

// First tap index >= 0 of an axis: taps sit at start + t * dil for t < k.
inline void tap_range(int64_t start, int64_t dil, int64_t k, int64_t size, int64_t& t0, int64_t& t1) {
    if (dil == 1) {  // the common case, without divisions
        t0 = std::max<int64_t>(-start, 0);
        t1 = std::max<int64_t>(std::min(k, size - start), 0);
        return;
    }
    t0 = start >= 0 ? 0 : (-start + dil - 1) / dil;
    int64_t last = size - 1 - start;  // largest offset still inside
    t1 = last < 0 ? 0 : std::min<int64_t>(k, last / dil + 1);
}

// Output columns [j0, j1) whose tap b of width offset off = b * dil - pad lies inside the row
// (0 <= j * stride + off < size).
inline void tap_columns(int64_t off, int64_t stride, int64_t size, int64_t ow, int64_t& j0, int64_t& j1) {
    j0 = off >= 0 ? 0 : (-off + stride - 1) / stride;
    j1 = size - 1 - off < 0 ? 0 : std::min<int64_t>(ow, (size - 1 - off) / stride + 1);
    j0 = std::min(j0, j1);
}

// best[j], tap[j] = row[j * stride], t for j in [j0, j1) where that value is larger or a NaN (so a
// NaN wins and the first of equal maxima stays). Selects of equal width, so it vectorises.
template <typename T>
void update_row(const T* __restrict row, int64_t stride, int32_t t, int64_t j0, int64_t j1, T* __restrict best,
                int32_t* __restrict tap) {
    for (int64_t j = j0; j < j1; ++j) {
        const T v = row[j * stride], cur = best[j];
        const bool take = v > cur || v != v;
        best[j] = take ? v : cur;
        tap[j] = take ? t : tap[j];
    }
}

// One output row at a time, tap by tap (row taps outer, column taps inner, so every output sees
// its taps in the same order as a per-window loop), with the running maxima in the output row and
// the winning tap numbers in a buffer, updated branch-free over the row's columns (max pooling's
// compares are unpredictable: per-window branches mispredict about every other tap). The flat
// input index of each winner is formed once at the end of the row.
template <typename T>
void forward(const Pool2dShape& s, const T* x, T* y, int64_t* idx) {
    parallel_for(s.planes, plane_grain(s, s.kh * s.kw), [&](int64_t p0, int64_t p1) {
        thread_local std::vector<int32_t> taps;
        taps.resize(size_t(s.ow));
        int32_t* tap = taps.data();
        for (int64_t p = p0; p < p1; ++p) {
            const T* xp = x + p * s.h * s.w;
            for (int64_t i = 0; i < s.oh; ++i) {
                T* best = y + (p * s.oh + i) * s.ow;
                int64_t* arg = idx + (p * s.oh + i) * s.ow;
                const int64_t r0 = i * s.stride_h - s.pad_h;
                int64_t a0, a1;
                tap_range(r0, s.dil_h, s.kh, s.h, a0, a1);
                std::fill(best, best + s.ow, -std::numeric_limits<T>::infinity());
                std::fill(tap, tap + s.ow, int32_t(-1));
                for (int64_t a = a0; a < a1; ++a) {
                    const int64_t r = r0 + a * s.dil_h;
                    for (int64_t b = 0; b < s.kw; ++b) {
                        const int64_t off = b * s.dil_w - s.pad_w;
                        int64_t j0, j1;
                        tap_columns(off, s.stride_w, s.w, s.ow, j0, j1);
                        update_row(xp + r * s.w + off, s.stride_w, int32_t(a * s.kw + b), j0, j1, best, tap);
                    }
                }
                for (int64_t j = 0; j < s.ow; ++j) {
                    const int64_t c0 = j * s.stride_w - s.pad_w;
                    if (tap[j] >= 0) {
                        arg[j] = (r0 + tap[j] / s.kw * s.dil_h) * s.w + c0 + tap[j] % s.kw * s.dil_w;
                    } else {  // no larger value than -inf: the first in-image tap, as PyTorch
                        int64_t b0, b1;
                        tap_range(c0, s.dil_w, s.kw, s.w, b0, b1);
                        arg[j] = std::max<int64_t>(r0 + a0 * s.dil_h, 0) * s.w + std::max<int64_t>(c0 + b0 * s.dil_w, 0);
                    }
                }
            }
        }
    });
}

template <typename T>
void backward(const Pool2dShape& s, const T* dy, const int64_t* idx, T* dx) {
    parallel_for(s.planes, plane_grain(s, 1), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            T* dxp = dx + p * s.h * s.w;
            std::fill(dxp, dxp + s.h * s.w, T(0));
            const T* dyp = dy + p * s.oh * s.ow;
            const int64_t* ip = idx + p * s.oh * s.ow;
            for (int64_t o = 0; o < s.oh * s.ow; ++o) dxp[ip[o]] += dyp[o];
        }
    });
}

}  // namespace

void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y, int64_t* idx) { forward(s, x, y, idx); }
void max_pool2d_forward(const Pool2dShape& s, const double* x, double* y, int64_t* idx) { forward(s, x, y, idx); }
void max_pool2d_backward(const Pool2dShape& s, const float* dy, const int64_t* idx, float* dx) { backward(s, dy, idx, dx); }
void max_pool2d_backward(const Pool2dShape& s, const double* dy, const int64_t* idx, double* dx) {
    backward(s, dy, idx, dx);
}

}  // namespace tf::cpu
