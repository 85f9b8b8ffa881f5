// conv2d_forward.cu: y = conv2d(x, w) + bias in fp32 (NCHW / OIHW), as an implicit GEMM.
//
// NOT YET RUN ON A GPU: compiled with nvcc and run on the CPU under TF_CUDA_EMULATE only
// (tests/test_cuda_emulated_conv_attention.py).
//
// What: y[b, o, i, j] = bias[o] + sum_{c, p, q} w[o, c, p, q] * x[b, g*cg + c, i*sh - ph + p*dh,
//   j*sw - pw + q*dw] with g = o / kg, cg = c_in / groups, kg = c_out / groups, x = 0 outside the
//   image (tf::Conv2dShape, csrc/include/tensorforge/conv2d.h). y is write-only; bias may be 0.
// Algorithm: per group, OUT (kg x n*oh*ow) = W_g (kg x cg*kh*kw) * im2col(x)_g (cg*kh*kw x
//   n*oh*ow); the im2col matrix is gathered tile by tile into shared memory and never stored
//   (engine: conv2d_igemm.cuh, 128 x 128 x 16 tiles with 8 x 8 outputs per thread, or 64 x 64 x 16
//   with 4 x 4 when kg < 128 or the big tiles would leave SMs idle).
// Layout: x (n, c_in, h, w), w (c_out, cg, kh, kw), bias (c_out), y (n, c_out, oh, ow), dense.
// Launch: grid (ceil(n*oh*ow / BN), ceil(kg / BM), groups), 256 threads, caller's stream.
#include <cuda_runtime.h>

#include <tensorforge/cuda_api.h>

#include "conv2d_igemm.cuh"
#include "device_props.cuh"

namespace tf::cuda {
namespace {

struct ConvForwardOp {
    conv_detail::ConvDims d;
    int M, N, K, groups;
    const float* __restrict__ x;
    const float* __restrict__ w;
    const float* __restrict__ bias;
    float* __restrict__ y;

    __device__ __forceinline__ float a(int g, int m, int k) const {
        return w[(int64_t(g) * d.kg + m) * K + k];
    }
    __device__ __forceinline__ float b(int g, int k, int n) const {
        const int ohw = d.oh * d.ow, khw = d.kh * d.kw;
        const int img = n / ohw, pq = n - img * ohw, p = pq / d.ow, q = pq - p * d.ow;
        const int c = k / khw, rs = k - c * khw, r = rs / d.kw, s = rs - r * d.kw;
        const int ih = p * d.sh - d.ph + r * d.dh, iw = q * d.sw - d.pw + s * d.dw;
        if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) return 0.f;
        return x[((int64_t(img) * d.c_in + int64_t(g) * d.cg + c) * d.h + ih) * d.w + iw];
    }
    __device__ __forceinline__ void store(int g, int m, int n, float v, bool) const {
        const int ohw = d.oh * d.ow, o = g * d.kg + m;
        const int img = n / ohw, pq = n - img * ohw;
        y[(int64_t(img) * d.c_out + o) * ohw + pq] = bias ? v + bias[o] : v;
    }
};

}  // namespace

void conv2d_forward(const Conv2dShape& s, uintptr_t x, uintptr_t w, uintptr_t bias, uintptr_t y, uintptr_t stream) {
    ConvForwardOp op;
    op.d = conv_detail::make_dims(s, "cuda conv2d_forward");
    if (s.n == 0 || s.c_out == 0 || s.oh == 0 || s.ow == 0) return;
    conv_detail::check_gemm_dims(s.c_out / s.groups, s.n * s.oh * s.ow, (s.c_in / s.groups) * s.kh * s.kw,
                                 "cuda conv2d_forward");
    require_device();
    op.M = op.d.kg;
    op.N = op.d.n * op.d.oh * op.d.ow;
    op.K = op.d.cg * op.d.kh * op.d.kw;
    op.groups = op.d.groups;
    op.x = reinterpret_cast<const float*>(x);
    op.w = reinterpret_cast<const float*>(w);
    op.bias = reinterpret_cast<const float*>(bias);
    op.y = reinterpret_cast<float*>(y);
    conv_detail::launch_igemm(op, 1, multiprocessor_count(current_device()), reinterpret_cast<cudaStream_t>(stream),
                              "cuda conv2d_forward");
}

}  // namespace tf::cuda
