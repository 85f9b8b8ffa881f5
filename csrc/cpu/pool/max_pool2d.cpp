// Max pooling, forward (values + flat argmax indices) and backward (scatter-add through the indices).
//
// One output element at a time over the window's in-image taps (dilation aware); planes of the
// NCHW stack are independent and split across the thread pool. A NaN in the window wins, and among
// equal maxima the first one does, as in PyTorch. The backward zeroes dx and adds each dy to the
// element its index names; overlapping windows (stride < kernel) accumulate.
#include <tensorforge/pool2d.h>

#include <cmath>
#include <limits>

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

template <typename T>
void forward(const Pool2dShape& s, const T* x, T* y, int64_t* idx) {
    parallel_for(s.planes, plane_grain(s, s.kh * s.kw), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const T* xp = x + p * s.h * s.w;
            T* yp = y + p * s.oh * s.ow;
            int64_t* ip = idx + p * s.oh * s.ow;
            for (int64_t i = 0; i < s.oh; ++i) {
                int64_t r0 = i * s.stride_h - s.pad_h, a0, a1;
                tap_range(r0, s.dil_h, s.kh, s.h, a0, a1);
                for (int64_t j = 0; j < s.ow; ++j) {
                    int64_t c0 = j * s.stride_w - s.pad_w, b0, b1;
                    tap_range(c0, s.dil_w, s.kw, s.w, b0, b1);
                    T best = -std::numeric_limits<T>::infinity();
                    int64_t arg = std::max<int64_t>(r0 + a0 * s.dil_h, 0) * s.w + std::max<int64_t>(c0 + b0 * s.dil_w, 0);
                    for (int64_t a = a0; a < a1; ++a) {
                        const int64_t r = r0 + a * s.dil_h;
                        for (int64_t b = b0; b < b1; ++b) {
                            const int64_t at = r * s.w + c0 + b * s.dil_w;
                            const T v = xp[at];
                            if (v > best || std::isnan(v)) {
                                best = v;
                                arg = at;
                            }
                        }
                    }
                    yp[i * s.ow + j] = best;
                    ip[i * s.ow + j] = arg;
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
