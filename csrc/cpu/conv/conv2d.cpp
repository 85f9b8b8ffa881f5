// conv2d on the CPU: which algorithm runs each direction.
//
//   forward      c_in/groups == 1: direct convolution over tap panels (direct_conv.cpp);
//                one group, output channels that fill the grid microkernel's slivers, K at
//                least 128 (1x1 kernels too: measured, 256->64@56 runs 58 -> 74 GFLOP/s on one
//                thread, no pixel packing): direct convolution on the padded, stride-phase-split
//                input grid (grid_conv.cpp); otherwise implicit GEMM, im2col fused into packing
//                (implicit_gemm.cpp)
//   grad-weight  c_in/groups == 1: direct (direct_conv.cpp); one group, more than one tap,
//                output channels that fill the rows microkernel's slivers: input rows read in
//                place from the padded grid (grid_grad_weight.cpp);
//                otherwise col @ dy^T on the rows microkernels (grad_weight.cpp)
//   grad-input   stride 1: a forward convolution of dy with flipped, group-transposed weights,
//                on the grid driver (one group, c_in filling its slivers) or the implicit GEMM
//                (c_in/groups >= 48);
//                stride above 1, one group, every dx pixel reached by a tap, c_in filling the
//                grid slivers: one stride-1 grid convolution of dy per stride phase of dx
//                (grid_grad_input.cpp);
//                otherwise, per image b and group g
//                (K = c_in/groups * kh * kw, P = oh * ow, O = c_out/groups):
//                dcol (K x P) = w[g]^T @ dy[b, g] on our GEMM, dx[b] = col2im(dcol) (im2col.cpp);
//                a 1x1 kernel with stride 1 and no padding writes dx[b] from the GEMM directly.
//                The groups of one image are one batched GEMM call; threads take whole images
//                when the batch splits evenly (single-threaded GEMMs, own dcol buffers),
//                otherwise images run in turn with the GEMM and col2im threaded.
#include <tensorforge/conv2d.h>
#include <tensorforge/gemm.h>

#include <algorithm>

#include "../thread_pool.h"
#include "conv_scratch.h"
#include "direct_conv.h"
#include "grad_weight.h"
#include "grid_conv.h"
#include "grid_grad_input.h"
#include "grid_grad_weight.h"
#include "im2col.h"
#include "implicit_gemm.h"

namespace tf::cpu {
namespace {

struct ConvDims {
    int64_t groups, o, k, p;  // per group: output channels, GEMM depth, output pixels
    bool pointwise;           // dx[b] is the GEMM's output itself

    explicit ConvDims(const Conv2dShape& s)
        : groups(s.groups), o(s.c_out / s.groups), k(s.c_in / s.groups * s.kh * s.kw), p(s.oh * s.ow),
          pointwise(s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0 &&
                    s.oh == s.h && s.ow == s.w) {}
};

// The pool splits whole images when that keeps every thread equally busy.
bool split_images(int64_t n, int threads) { return threads > 1 && (n % threads == 0 || n >= 2 * threads); }

// Runs fn(b0, b1) over the batch: whole-image ranges per thread, or all images on the caller.
template <typename Fn>
void for_images(int64_t n, Fn&& fn) {
    const int threads = get_num_threads();
    if (!split_images(n, threads)) return fn(int64_t(0), n);
    parallel_run(threads, [&](int tid, int nt) { fn(n * tid / nt, n * (tid + 1) / nt); });
}

// With stride 1 the input gradient is itself a convolution: dy correlated with the weights
// flipped in space and transposed per group (c_in/groups outputs from c_out/groups inputs),
// padded by dil*(k-1) - pad on the top / left. Returns false when that padding would be negative,
// or when the grid driver does not apply (groups) and c_in/groups is too small for the implicit
// GEMM's MR-row tiles (depthwise convolutions): W^T dY then col2im wastes less there.
template <typename T>
bool grad_input_as_forward(const Conv2dShape& s, const T* dy, const T* w, T* dx) {
    constexpr int64_t MIN_ROWS = 48;  // measured: 32 is faster through W^T dY + col2im, 64 here
    const int64_t pad_h = s.dil_h * (s.kh - 1) - s.pad_h, pad_w = s.dil_w * (s.kw - 1) - s.pad_w;
    if (s.stride_h != 1 || s.stride_w != 1 || pad_h < 0 || pad_w < 0) return false;
    Conv2dShape t = s;
    t.c_in = s.c_out, t.h = s.oh, t.w = s.ow, t.c_out = s.c_in, t.oh = s.h, t.ow = s.w;
    t.pad_h = pad_h, t.pad_w = pad_w;
    if (grid_forward_applies<T>(t)) {  // w read flipped and in-major in place
        conv2d_grid_flipped_forward(t, dy, w, dx);
        return true;
    }
    if (s.c_in / s.groups < MIN_ROWS) return false;
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
    conv2d_implicit_forward(t, dy, flipped, static_cast<const T*>(nullptr), dx);
    return true;
}

template <typename T>
void grad_input(const Conv2dShape& s, const T* dy, const T* w, T* dx) {
    if (grad_input_as_forward(s, dy, w, dx)) return;
    if (grid_grad_input_applies<T>(s)) return conv2d_grid_grad_input(s, dy, w, dx);
    const ConvDims d(s);
    GemmShape g;
    g.trans_a = true, g.m = d.k, g.n = d.p, g.k = d.o, g.lda = d.k, g.ldb = d.p, g.ldc = d.p;
    const GemmBatch groups{d.groups, d.o * d.k, d.o * d.p, d.k * d.p};
    for_images(s.n, [&](int64_t b0, int64_t b1) {
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
void forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
    if (conv2d_direct_applies(s)) return conv2d_direct_forward(s, x, w, bias, y);
    if (grid_forward_applies<T>(s)) return conv2d_grid_forward(s, x, w, bias, y);
    conv2d_implicit_forward(s, x, w, bias, y);
}

template <typename T>
void grad_weight(const Conv2dShape& s, const T* x, const T* dy, T* dw) {
    if (conv2d_direct_applies(s)) return conv2d_direct_grad_weight(s, x, dy, dw);
    if (grid_grad_weight_applies<T>(s)) return conv2d_grid_grad_weight(s, x, dy, dw);
    conv2d_rows_grad_weight(s, x, dy, dw);
}

}  // namespace

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y) {
    forward(s, x, w, bias, y);
}
void conv2d_forward(const Conv2dShape& s, const double* x, const double* w, const double* bias, double* y) {
    forward(s, x, w, bias, y);
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
