// conv2d with one input channel per group (a first layer on grey images, depthwise layers) as a
// direct convolution. There the GEMM depth is only K = kh * kw (9 for 3x3), too short to amortise
// the GEMM microkernel's packing and tile writes, so the work runs on the direct kernels
// (direct_kernels.h) over a "tap panel": for a chunk of consecutive output pixels of one image
// and group (flattened over rows, so runs continue across row ends), row t of the panel holds
// the input value under tap t of each pixel (copied from the input rows, zero in the padding).
//   forward:     y[b, g*O + o, chunk] = bias + w[g*O + o, :] @ panel, written straight into y
//                in tiles of output channels x pixels; work items are (image, group, chunk).
//   grad-weight: dw[g*O + o, t] = sum over images and pixels of dy[b, g*O + o, pix] * panel[t, pix];
//                each thread takes a contiguous range of items and accumulates vector-wide
//                partial sums in its own buffer, summed into dw at the end.
// Layout: x NCHW, w OIHW (I = 1), y / dy NCHW (see tensorforge/conv2d.h).
#include "direct_conv.h"

#include <algorithm>
#include <vector>

#include "../thread_pool.h"
#include "conv_scratch.h"
#include "direct_kernels.h"
#include "tap_run.h"

namespace tf::cpu {
namespace {

constexpr int64_t CHUNK_MAX = 1024;  // output pixels per panel (K x 1024 floats: L2-resident)

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Pixel chunks per (image, group) plane: at most CHUNK_MAX pixels each, and enough items to keep
// every thread busy. Returns the chunk length, a multiple of `align`.
int64_t chunk_length(const Conv2dShape& s, int64_t pixels, int64_t align) {
    const int64_t planes = s.n * s.groups, want = ceil_div(4 * get_num_threads(), planes);
    const int64_t chunks = std::min(std::max(ceil_div(pixels, CHUNK_MAX), want), ceil_div(pixels, align));
    return ceil_div(ceil_div(pixels, chunks), align) * align;
}

// Panel rows t < kh*kw (row stride ldp) for output pixels [pix0, pix0 + len) read from one input
// plane; the rows are zero from len to ldp.
template <typename T>
void fill_panel(const Conv2dShape& s, const T* plane, int64_t pix0, int64_t len, T* panel, int64_t ldp) {
    for (int64_t t = 0; t < s.kh * s.kw; ++t) {
        const int64_t roff = t / s.kw * s.dil_h - s.pad_h, coff = t % s.kw * s.dil_w - s.pad_w;
        T* row = panel + t * ldp;
        for (int64_t c = 0; c < len;) {
            const int64_t pix = pix0 + c, i = pix / s.ow, j = pix % s.ow, run = std::min(s.ow - j, len - c);
            const int64_t r = i * s.stride_h + roff;
            if (r < 0 || r >= s.h)
                std::fill(row + c, row + c + run, T(0));
            else
                copy_tap_run(plane + r * s.w, j * s.stride_w + coff, s.stride_w, s.w, run, row + c);
            c += run;
        }
        std::fill(row + len, row + ldp, T(0));
    }
}

}  // namespace

bool conv2d_direct_applies(const Conv2dShape& s) { return s.c_in == s.groups; }

template <typename T>
void conv2d_direct_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
    const DirectKernels<T> dk = direct_kernels(T(0));
    const int64_t o = s.c_out / s.groups, k = s.kh * s.kw, p = s.oh * s.ow;
    const int64_t chunk = chunk_length(s, p, dk.fwd_tile), chunks = ceil_div(p, chunk);
    parallel_for(s.n * s.groups * chunks, 1, [&](int64_t t0, int64_t t1) {
        T* panel = conv_scratch<20, T>(size_t(k * chunk));
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t b = t / (s.groups * chunks), g = t / chunks % s.groups, pix0 = t % chunks * chunk;
            const int64_t len = std::min(chunk, p - pix0);
            if (len <= 0) continue;
            fill_panel(s, x + (b * s.c_in + g) * s.h * s.w, pix0, len, panel, chunk);
            T* yg = y + (b * s.c_out + g * o) * p + pix0;
            for (int64_t c = 0; c < len; c += dk.fwd_tile)
                for (int64_t o0 = 0; o0 < o; o0 += dk.fwd_mb)
                    dk.forward(k, w + (g * o + o0) * k, int(std::min<int64_t>(dk.fwd_mb, o - o0)), panel + c, chunk,
                               bias ? bias + g * o + o0 : nullptr, yg + o0 * p + c, p,
                               std::min<int64_t>(dk.fwd_tile, len - c));
        }
    });
}

template <typename T>
void conv2d_direct_grad_weight(const Conv2dShape& s, const T* x, const T* dy, T* dw) {
    const DirectKernels<T> dk = direct_kernels(T(0));
    const int64_t o = s.c_out / s.groups, k = s.kh * s.kw, p = s.oh * s.ow, vl = dk.vl;
    const int64_t kb = ceil_div(k, ceil_div(k, dk.gw_kb));  // taps per kernel call, in equal blocks
    const int64_t chunk = chunk_length(s, p, vl), chunks = ceil_div(p, chunk), items = s.n * s.groups * chunks;
    const int64_t per_thread = s.c_out * k * vl;
    const int threads = int(std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), items)));
    std::vector<T> acc(size_t(threads * per_thread), T(0));
    parallel_run(threads, [&](int tid, int nt) {
        T* panel = conv_scratch<20, T>(size_t(k * chunk));
        T* mine = acc.data() + tid * per_thread;
        for (int64_t t = items * tid / nt; t < items * (tid + 1) / nt; ++t) {
            const int64_t b = t / (s.groups * chunks), g = t / chunks % s.groups, pix0 = t % chunks * chunk;
            const int64_t len = std::min(chunk, p - pix0);
            if (len <= 0) continue;
            fill_panel(s, x + (b * s.c_in + g) * s.h * s.w, pix0, len, panel, chunk);
            const T* dyg = dy + (b * s.c_out + g * o) * p + pix0;
            for (int64_t o0 = 0; o0 < o; o0 += dk.gw_mb)
                for (int64_t t0 = 0; t0 < k; t0 += kb)
                    dk.grad_weight(int(std::min(kb, k - t0)), int(std::min<int64_t>(dk.gw_mb, o - o0)), dyg + o0 * p, p,
                                   panel + t0 * chunk, chunk, len, mine + ((g * o + o0) * k + t0) * vl, k * vl);
        }
    });
    parallel_for(s.c_out * k, 64, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            T sum = T(0);
            for (int tid = 0; tid < threads; ++tid)
                for (int64_t l = 0; l < vl; ++l) sum += acc[size_t(tid * per_thread + i * vl + l)];
            dw[i] = sum;
        }
    });
}

template void conv2d_direct_forward<float>(const Conv2dShape&, const float*, const float*, const float*, float*);
template void conv2d_direct_forward<double>(const Conv2dShape&, const double*, const double*, const double*,
                                            double*);
template void conv2d_direct_grad_weight<float>(const Conv2dShape&, const float*, const float*, float*);
template void conv2d_direct_grad_weight<double>(const Conv2dShape&, const double*, const double*, double*);

}  // namespace tf::cpu
