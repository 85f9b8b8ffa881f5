// conv2d_grad_input.cu: dx = d(sum y * dy) / dx for conv2d in fp32 (NCHW / OIHW), implicit GEMM.
//
// NOT YET RUN ON A GPU: compiled with nvcc and run on the CPU under TF_CUDA_EMULATE only
// (tests/test_cuda_emulated_conv_attention.py).
//
// What: dx[b, g*cg + c, h, w] = sum_{o in group g, p, q} w[o, c, p, q] * dy[b, o, i, j] over the
//   taps with h = i*sh - ph + p*dh and w = j*sw - pw + q*dw (i, j integer and inside dy).
//   dx is write-only: every element is written once (0 where no tap reaches it).
// Algorithm: per group, OUT (cg x n*h*w) = W_g^T (cg x kg*kh*kw) * G (kg*kh*kw x n*h*w), where
//   G[(o, p, q), (b, h, w)] = dy[b, o, (h + ph - p*dh) / sh, (w + pw - q*dw) / sw] when both
//   divisions are exact and inside dy, else 0; gathered on the fly (conv2d_igemm.cuh). With
//   stride > 1 most gathered taps are zeros (a stride-phase decomposition would skip them).
// Layout: dy (n, c_out, oh, ow), w (c_out, cg, kh, kw), dx (n, c_in, h, w), dense.
// Launch: grid (ceil(n*h*w / BN), ceil(cg / BM), groups), 256 threads (BM = BN = 64 or 128,
//   conv2d_igemm.cuh), caller's stream.
#include <cuda_runtime.h>

#include <tensorforge/cuda_api.h>

#include "conv2d_igemm.cuh"
#include "device_props.cuh"

namespace tf::cuda {
namespace {

struct ConvGradInputOp {
    conv_detail::ConvDims d;
    int M, N, K, groups;
    const float* __restrict__ dy;
    const float* __restrict__ w;
    float* __restrict__ dx;

    __device__ __forceinline__ float a(int g, int m, int k) const {  // m: input channel c; k: (o, p, q)
        const int khw = d.kh * d.kw, o = k / khw, rs = k - o * khw;
        return w[((int64_t(g) * d.kg + o) * d.cg + m) * khw + rs];
    }
    __device__ __forceinline__ float b(int g, int k, int n) const {  // n: (b, h, w)
        const int hw = d.h * d.w, khw = d.kh * d.kw;
        const int img = n / hw, pix = n - img * hw, ih = pix / d.w, iw = pix - ih * d.w;
        const int o = k / khw, rs = k - o * khw, r = rs / d.kw, s = rs - r * d.kw;
        const int th = ih + d.ph - r * d.dh, tw = iw + d.pw - s * d.dw;
        if (th < 0 || tw < 0) return 0.f;
        const int i = th / d.sh, j = tw / d.sw;
        if (i * d.sh != th || j * d.sw != tw || i >= d.oh || j >= d.ow) return 0.f;
        return dy[((int64_t(img) * d.c_out + int64_t(g) * d.kg + o) * d.oh + i) * d.ow + j];
    }
    __device__ __forceinline__ void store(int g, int m, int n, float v, bool) const {
        const int hw = d.h * d.w, img = n / hw, pix = n - img * hw;
        dx[(int64_t(img) * d.c_in + int64_t(g) * d.cg + m) * hw + pix] = v;
    }
};

}  // namespace

void conv2d_grad_input(const Conv2dShape& s, uintptr_t dy, uintptr_t w, uintptr_t dx, uintptr_t stream) {
    ConvGradInputOp op;
    op.d = conv_detail::make_dims(s, "cuda conv2d_grad_input");
    if (s.n == 0 || s.c_in == 0 || s.h == 0 || s.w == 0) return;
    conv_detail::check_gemm_dims(s.c_in / s.groups, s.n * s.h * s.w, (s.c_out / s.groups) * s.kh * s.kw,
                                 "cuda conv2d_grad_input");
    require_device();
    op.M = op.d.cg;
    op.N = op.d.n * op.d.h * op.d.w;
    op.K = (s.oh == 0 || s.ow == 0) ? 0 : op.d.kg * op.d.kh * op.d.kw;  // no output: dx = 0
    op.groups = op.d.groups;
    op.dy = reinterpret_cast<const float*>(dy);
    op.w = reinterpret_cast<const float*>(w);
    op.dx = reinterpret_cast<float*>(dx);
    conv_detail::launch_igemm(op, 1, multiprocessor_count(current_device()), reinterpret_cast<cudaStream_t>(stream),
                              "cuda conv2d_grad_input");
}

}  // namespace tf::cuda
