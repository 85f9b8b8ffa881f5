// Average pooling (fixed window, and adaptive), forward and backward.
//
// Fixed window: sum of the in-image taps over a divisor that is divisor_override, or the window
// clipped to the padded image (count_include_pad), or clipped to the image; a window wholly in
// the padding gives 0. Adaptive: window rows [floor(i*h/oh), ceil((i+1)*h/oh)), columns likewise,
// divided by its size. Backward spreads dy / divisor over the same window (zeroing dx first).
// Planes of the NCHW stack are independent and split across the thread pool.
#include <tensorforge/pool2d.h>

#include "../thread_pool.h"
#include "pool_window.h"

namespace tf::cpu {
namespace {

struct Window {
    int64_t r0, r1, c0, c1;
    double divisor;  // 0: empty window
};

struct FixedWindows {
    const Pool2dShape& s;
    bool count_include_pad;
    int64_t divisor_override;
    Window operator()(int64_t i, int64_t j) const {
        WindowRange r = avg_window(i, s.stride_h, s.pad_h, s.kh, s.h), c = avg_window(j, s.stride_w, s.pad_w, s.kw, s.w);
        if (r.lo >= r.hi || c.lo >= c.hi) return {0, 0, 0, 0, 0.0};
        double d = divisor_override > 0 ? double(divisor_override)
                   : count_include_pad   ? double(r.padded * c.padded)
                                         : double((r.hi - r.lo) * (c.hi - c.lo));
        return {r.lo, r.hi, c.lo, c.hi, d};
    }
};

struct AdaptiveWindows {
    const Pool2dShape& s;
    Window operator()(int64_t i, int64_t j) const {
        WindowRange r = adaptive_window(i, s.oh, s.h), c = adaptive_window(j, s.ow, s.w);
        return {r.lo, r.hi, c.lo, c.hi, double(r.padded * c.padded)};
    }
};

template <typename T, typename Windows>
void forward(const Pool2dShape& s, const Windows& windows, int64_t taps, const T* x, T* y) {
    parallel_for(s.planes, plane_grain(s, taps), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const T* xp = x + p * s.h * s.w;
            T* yp = y + p * s.oh * s.ow;
            for (int64_t i = 0; i < s.oh; ++i)
                for (int64_t j = 0; j < s.ow; ++j) {
                    const Window win = windows(i, j);
                    T sum = T(0);
                    for (int64_t r = win.r0; r < win.r1; ++r)
                        for (int64_t c = win.c0; c < win.c1; ++c) sum += xp[r * s.w + c];
                    yp[i * s.ow + j] = win.divisor > 0 ? T(sum / win.divisor) : T(0);
                }
        }
    });
}

template <typename T, typename Windows>
void backward(const Pool2dShape& s, const Windows& windows, int64_t taps, const T* dy, T* dx) {
    parallel_for(s.planes, plane_grain(s, taps), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            T* dxp = dx + p * s.h * s.w;
            std::fill(dxp, dxp + s.h * s.w, T(0));
            const T* dyp = dy + p * s.oh * s.ow;
            for (int64_t i = 0; i < s.oh; ++i)
                for (int64_t j = 0; j < s.ow; ++j) {
                    const Window win = windows(i, j);
                    if (win.divisor <= 0) continue;
                    const T g = T(dyp[i * s.ow + j] / win.divisor);
                    for (int64_t r = win.r0; r < win.r1; ++r)
                        for (int64_t c = win.c0; c < win.c1; ++c) dxp[r * s.w + c] += g;
                }
        }
    });
}

int64_t adaptive_taps(const Pool2dShape& s) { return (s.h / s.oh + 1) * (s.w / s.ow + 1); }

}  // namespace

void avg_pool2d_forward(const Pool2dShape& s, bool cip, int64_t d, const float* x, float* y) {
    forward(s, FixedWindows{s, cip, d}, s.kh * s.kw, x, y);
}
void avg_pool2d_forward(const Pool2dShape& s, bool cip, int64_t d, const double* x, double* y) {
    forward(s, FixedWindows{s, cip, d}, s.kh * s.kw, x, y);
}
void avg_pool2d_backward(const Pool2dShape& s, bool cip, int64_t d, const float* dy, float* dx) {
    backward(s, FixedWindows{s, cip, d}, s.kh * s.kw, dy, dx);
}
void avg_pool2d_backward(const Pool2dShape& s, bool cip, int64_t d, const double* dy, double* dx) {
    backward(s, FixedWindows{s, cip, d}, s.kh * s.kw, dy, dx);
}
void adaptive_avg_pool2d_forward(const Pool2dShape& s, const float* x, float* y) {
    forward(s, AdaptiveWindows{s}, adaptive_taps(s), x, y);
}
void adaptive_avg_pool2d_forward(const Pool2dShape& s, const double* x, double* y) {
    forward(s, AdaptiveWindows{s}, adaptive_taps(s), x, y);
}
void adaptive_avg_pool2d_backward(const Pool2dShape& s, const float* dy, float* dx) {
    backward(s, AdaptiveWindows{s}, adaptive_taps(s), dy, dx);
}
void adaptive_avg_pool2d_backward(const Pool2dShape& s, const double* dy, double* dx) {
    backward(s, AdaptiveWindows{s}, adaptive_taps(s), dy, dx);
}

}  // namespace tf::cpu
