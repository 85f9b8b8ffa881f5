// conv2d on the CPU: forward, grad-input and grad-weight as GEMMs on our BLIS-style GEMM.
//
// Per image b and group g (K = c_in/groups * kh * kw, P = oh * ow, O = c_out/groups):
//   forward      y[b, g]  (O x P)  = w[g] (O x K) @ col[b, g] (K x P)          (+ bias per row)
//   grad-input   dcol     (K x P)  = w[g]^T @ dy[b, g],  dx[b] = col2im(dcol)
//   grad-weight  dw[g]    (O x K) += dy[b, g] @ col[b, g]^T                    (summed over b)
// where col is im2col(x[b]) (im2col.cpp). A 1x1 kernel with stride 1 and no padding needs no
// im2col: x[b] itself is col (K x P with K = channels), and dx[b] is written by the GEMM directly.
// The groups of one image are one batched GEMM call. Threads: when the batch splits evenly across
// the pool (or has at least two images per thread), each thread takes whole images with its own
// col buffer and single-threaded GEMMs (nested pool runs are serial); grad-weight then sums the
// per-thread partial dw. Otherwise images run one after another with the GEMM and im2col threaded.
#include <tensorforge/conv2d.h>
#include <tensorforge/gemm.h>

#include <algorithm>
#include <vector>

#include "../thread_pool.h"
#include "conv_scratch.h"
#include "im2col.h"
#include "implicit_gemm.h"

namespace tf::cpu {
namespace {

struct ConvDims {
    int64_t groups, o, k, p;  // per group: output channels, GEMM depth, output pixels
    int64_t cin_g;
    bool pointwise;           // x[b] is its own col

    explicit ConvDims(const Conv2dShape& s)
        : groups(s.groups), o(s.c_out / s.groups), k(s.c_in / s.groups * s.kh * s.kw), p(s.oh * s.ow),
          cin_g(s.c_in / s.groups),
          pointwise(s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0 &&
                    s.oh == s.h && s.ow == s.w) {}
};

// The pool splits whole images when that keeps every thread equally busy.
bool split_images(int64_t n, int threads) { return threads > 1 && (n % threads == 0 || n >= 2 * threads); }

// Runs fn(b0, b1, slot) over the batch: whole-image ranges per thread, or all images on the caller.
template <typename Fn>
int for_images(int64_t n, Fn&& fn) {
    const int threads = get_num_threads();
    if (!split_images(n, threads)) {
        fn(int64_t(0), n, 0);
        return 1;
    }
    return parallel_run(threads, [&](int tid, int nt) { fn(n * tid / nt, n * (tid + 1) / nt, tid); });
}

template <typename T>
const T* image_col(const Conv2dShape& s, const ConvDims& d, const T* x_image) {
    if (d.pointwise) return x_image;
    T* col = conv_scratch<0, T>(size_t(d.groups * d.k * d.p));
    im2col(s, x_image, s.c_in, col);
    return col;
}

// With stride 1 the input gradient is itself a convolution: dy correlated with the weights
// flipped in space and transposed per group (c_in/groups outputs from c_out/groups inputs),
// padded by dil*(k-1) - pad on the top / left. Returns false when that padding would be negative,
// or when c_in/groups is too small for the implicit GEMM's MR-row tiles (the first layer of a
// network, depthwise convolutions): W^T dY then col2im wastes less there.
template <typename T>
bool grad_input_as_forward(const Conv2dShape& s, const T* dy, const T* w, T* dx) {
    constexpr int64_t MIN_ROWS = 8;
    const int64_t pad_h = s.dil_h * (s.kh - 1) - s.pad_h, pad_w = s.dil_w * (s.kw - 1) - s.pad_w;
    if (s.stride_h != 1 || s.stride_w != 1 || pad_h < 0 || pad_w < 0 || s.c_in / s.groups < MIN_ROWS) return false;
    const int64_t o = s.c_out / s.groups, ci = s.c_in / s.groups, taps = s.kh * s.kw;
    T* flipped = conv_scratch<2, T>(size_t(s.c_in * o * taps));
    parallel_for(s.c_out, 16, [&](int64_t o0, int64_t o1) {
        for (int64_t oc = o0; oc < o1; ++oc) {
            const int64_t g = oc / o, oo = oc % o;
            for (int64_t c = 0; c < ci; ++c)
                for (int64_t t = 0; t < taps; ++t)
                    flipped[((g * ci + c) * o + oo) * taps + (taps - 1 - t)] = w[(oc * ci + c) * taps + t];
        }
    });
    Conv2dShape t = s;
    t.c_in = s.c_out, t.h = s.oh, t.w = s.ow, t.c_out = s.c_in, t.oh = s.h, t.ow = s.w;
    t.pad_h = pad_h, t.pad_w = pad_w;
    conv2d_implicit_forward(t, dy, flipped, static_cast<const T*>(nullptr), dx);
    return true;
}

template <typename T>
void grad_input(const Conv2dShape& s, const T* dy, const T* w, T* dx) {
    if (grad_input_as_forward(s, dy, w, dx)) return;
    const ConvDims d(s);
    GemmShape g;
    g.trans_a = true, g.m = d.k, g.n = d.p, g.k = d.o, g.lda = d.k, g.ldb = d.p, g.ldc = d.p;
    const GemmBatch groups{d.groups, d.o * d.k, d.o * d.p, d.k * d.p};
    for_images(s.n, [&](int64_t b0, int64_t b1, int) {
        for (int64_t b = b0; b < b1; ++b) {
            T* dxb = dx + b * s.c_in * s.h * s.w;
            const T* dyb = dy + b * s.c_out * d.p;
            if (d.pointwise) {
                gemm(g, T(1), w, dyb, T(0), dxb, groups);
            } else {
                T* dcol = conv_scratch<0, T>(size_t(d.groups * d.k * d.p));
                gemm(g, T(1), w, dyb, T(0), dcol, groups);
                col2im(s, dcol, s.c_in, dxb);
            }
        }
    });
}

template <typename T>
void grad_weight(const Conv2dShape& s, const T* x, const T* dy, T* dw) {
    const ConvDims d(s);
    const int64_t size = s.c_out * d.k;
    GemmShape g;
    g.trans_b = true, g.m = d.o, g.n = d.k, g.k = d.p, g.lda = d.p, g.ldb = d.p, g.ldc = d.k;
    const GemmBatch groups{d.groups, d.o * d.p, d.k * d.p, d.o * d.k};
    std::vector<T*> partial(std::max(1, get_num_threads()), nullptr);
    const int used = for_images(s.n, [&](int64_t b0, int64_t b1, int slot) {
        T* acc = slot == 0 ? dw : conv_scratch<1, T>(size_t(size));
        partial[slot] = acc;
        if (b0 == b1) std::fill(acc, acc + size, T(0));
        for (int64_t b = b0; b < b1; ++b) {
            const T* col = image_col(s, d, x + b * s.c_in * s.h * s.w);
            gemm(g, T(1), dy + b * s.c_out * d.p, col, b == b0 ? T(0) : T(1), acc, groups);
        }
    });
    if (used > 1)
        parallel_for(size, 4096, [&](int64_t i0, int64_t i1) {
            for (int t = 1; t < used; ++t)
                for (int64_t i = i0; i < i1; ++i) dw[i] += partial[t][i];
        });
}

}  // namespace

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y) {
    conv2d_implicit_forward(s, x, w, bias, y);
}
void conv2d_forward(const Conv2dShape& s, const double* x, const double* w, const double* bias, double* y) {
    conv2d_implicit_forward(s, x, w, bias, y);
}
void conv2d_grad_input(const Conv2dShape& s, const float* dy, const float* w, float* dx) { grad_input(s, dy, w, dx); }
void conv2d_grad_input(const Conv2dShape& s, const double* dy, const double* w, double* dx) {
    grad_input(s, dy, w, dx);
}
void conv2d_grad_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw) { grad_weight(s, x, dy, dw); }
void conv2d_grad_weight(const Conv2dShape& s, const double* x, const double* dy, double* dw) {
    grad_weight(s, x, dy, dw);
}

}  // namespace tf::cpu
