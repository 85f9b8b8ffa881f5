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
#include "im2col.h"

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

// A per-thread scratch buffer that grows on demand; Slot keeps independent buffers apart.
template <int Slot, typename T>
T* scratch(size_t count) {
    thread_local std::vector<T> buffer;
    if (buffer.size() < count) buffer.resize(count);
    return buffer.data();
}

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
    T* col = scratch<0, T>(size_t(d.groups * d.k * d.p));
    im2col(s, x_image, s.c_in, col);
    return col;
}

template <typename T>
void forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
    const ConvDims d(s);
    GemmShape g;
    g.m = d.o, g.n = d.p, g.k = d.k, g.lda = d.k, g.ldb = d.p, g.ldc = d.p;
    const GemmBatch groups{d.groups, d.o * d.k, d.k * d.p, d.o * d.p};
    for_images(s.n, [&](int64_t b0, int64_t b1, int) {
        for (int64_t b = b0; b < b1; ++b) {
            const T* col = image_col(s, d, x + b * s.c_in * s.h * s.w);
            T* yb = y + b * s.c_out * d.p;
            gemm(g, T(1), w, col, T(0), yb, groups);
            if (bias)
                for (int64_t o = 0; o < s.c_out; ++o)
                    for (int64_t i = 0; i < d.p; ++i) yb[o * d.p + i] += bias[o];
        }
    });
}

template <typename T>
void grad_input(const Conv2dShape& s, const T* dy, const T* w, T* dx) {
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
                T* dcol = scratch<0, T>(size_t(d.groups * d.k * d.p));
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
        T* acc = slot == 0 ? dw : scratch<1, T>(size_t(size));
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
