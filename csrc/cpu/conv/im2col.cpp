// im2col and its adjoint col2im for one NCHW image, the data movement around the GEMMs of conv2d.
//
// Row (c, p, q) of col holds the (oh, ow) plane of input taps seen by kernel tap (p, q) of channel
// c. For each output row i the valid columns j form one interval [j0, j1) (the rest reads zero
// padding), so every row is a zero head, a copy (memcpy when the stride is 1) and a zero tail;
// no per-element bounds tests. Channels are split across the thread pool (serial when the caller
// is already inside a parallel region).
#include "im2col.h"

#include <algorithm>
#include <cstring>

#include "../thread_pool.h"
#include "tap_run.h"

namespace tf::cpu {
namespace {

// Columns j in [0, ow) whose tap j*stride + off lies in [0, size).
inline void valid_columns(int64_t off, int64_t stride, int64_t size, int64_t ow, int64_t& j0, int64_t& j1) {
    j0 = off >= 0 ? 0 : (-off + stride - 1) / stride;
    j1 = size - 1 - off < 0 ? 0 : (size - 1 - off) / stride + 1;
    j1 = std::min(j1, ow);
    j0 = std::min(j0, j1);
}

inline int64_t channel_grain(const Conv2dShape& s) {
    return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, s.kh * s.kw * s.oh * s.ow));
}

}  // namespace

template <typename T>
void im2col(const Conv2dShape& s, const T* x, int64_t channels, T* col) {
    const int64_t ohw = s.oh * s.ow;
    parallel_for(channels, channel_grain(s), [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c)
            for (int64_t p = 0; p < s.kh; ++p)
                for (int64_t q = 0; q < s.kw; ++q) {
                    T* dst = col + ((c * s.kh + p) * s.kw + q) * ohw;
                    const int64_t off = q * s.dil_w - s.pad_w;
                    for (int64_t i = 0; i < s.oh; ++i, dst += s.ow) {
                        const int64_t r = i * s.stride_h - s.pad_h + p * s.dil_h;
                        if (r < 0 || r >= s.h) std::fill(dst, dst + s.ow, T(0));
                        else copy_tap_run(x + (c * s.h + r) * s.w, off, s.stride_w, s.w, s.ow, dst);
                    }
                }
    });
}

template <typename T>
void col2im(const Conv2dShape& s, const T* col, int64_t channels, T* dx) {
    const int64_t ohw = s.oh * s.ow;
    parallel_for(channels, channel_grain(s), [&](int64_t c0, int64_t c1) {
        std::fill(dx + c0 * s.h * s.w, dx + c1 * s.h * s.w, T(0));
        for (int64_t c = c0; c < c1; ++c)
            for (int64_t p = 0; p < s.kh; ++p)
                for (int64_t q = 0; q < s.kw; ++q) {
                    const T* src = col + ((c * s.kh + p) * s.kw + q) * ohw;
                    const int64_t off = q * s.dil_w - s.pad_w;
                    int64_t j0, j1;
                    valid_columns(off, s.stride_w, s.w, s.ow, j0, j1);
                    for (int64_t i = 0; i < s.oh; ++i, src += s.ow) {
                        const int64_t r = i * s.stride_h - s.pad_h + p * s.dil_h;
                        if (r < 0 || r >= s.h) continue;
                        T* dst = dx + (c * s.h + r) * s.w;
                        if (s.stride_w == 1) {
                            for (int64_t j = j0; j < j1; ++j) dst[off + j] += src[j];
                        } else {
                            for (int64_t j = j0; j < j1; ++j) dst[off + j * s.stride_w] += src[j];
                        }
                    }
                }
    });
}

template void im2col<float>(const Conv2dShape&, const float*, int64_t, float*);
template void im2col<double>(const Conv2dShape&, const double*, int64_t, double*);
template void col2im<float>(const Conv2dShape&, const float*, int64_t, float*);
template void col2im<double>(const Conv2dShape&, const double*, int64_t, double*);

}  // namespace tf::cpu
