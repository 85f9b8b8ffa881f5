// conv2d_grad_weight.cu: dw = d(sum y * dy) / dw for conv2d in fp32 (NCHW / OIHW), implicit GEMM
// with split-k.
//
// NOT YET RUN ON A GPU: compiled with nvcc and run on the CPU under TF_CUDA_EMULATE only
// (tests/test_cuda_emulated_conv_attention.py).
//
// What: dw[o, c, p, q] = sum_{b, i, j} dy[b, o, i, j] * x[b, g*cg + c, i*sh - ph + p*dh,
//   j*sw - pw + q*dw] (x = 0 outside the image), g = o / kg. dw is write-only. The bias gradient
//   is a plain sum of dy and is left to the caller.
// Algorithm: per group, OUT (kg x cg*kh*kw) = DY_g (kg x n*oh*ow) * im2col(x)_g^T (n*oh*ow x
//   cg*kh*kw), both gathered on the fly (conv2d_igemm.cuh). The k extent n*oh*ow is long and
//   the output small, so k is split over grid.z until the grid has ~2 blocks per SM; splits add
//   into dw (zeroed first with cudaMemsetAsync) with atomicAdd: fp32 sums in a run-dependent
//   order, so results are not bitwise reproducible when splits > 1.
// Layout: x (n, c_in, h, w), dy (n, c_out, oh, ow), dw (c_out, cg, kh, kw), dense.
// Launch: grid (ceil(cg*kh*kw / BN), ceil(kg / BM), groups * splits), 256 threads (BM = BN = 64
//   or 128, conv2d_igemm.cuh), caller's
//   stream (memset and kernel).
#include <cuda_runtime.h>

#include <tensorforge/cuda_api.h>

#include "conv2d_igemm.cuh"
#include "device_props.cuh"

namespace tf::cuda {
namespace {

struct ConvGradWeightOp {
    conv_detail::ConvDims d;
    int M, N, K, groups;
    const float* __restrict__ x;
    const float* __restrict__ dy;
    float* __restrict__ dw;

    __device__ __forceinline__ float a(int g, int m, int k) const {  // m: output channel in group; k: (b, i, j)
        const int ohw = d.oh * d.ow, img = k / ohw, pq = k - img * ohw;
        return dy[(int64_t(img) * d.c_out + int64_t(g) * d.kg + m) * ohw + pq];
    }
    __device__ __forceinline__ float b(int g, int k, int n) const {  // n: (c, p, q)
        const int ohw = d.oh * d.ow, khw = d.kh * d.kw;
        const int img = k / ohw, pq = k - img * ohw, i = pq / d.ow, j = pq - i * d.ow;
        const int c = n / khw, rs = n - c * khw, r = rs / d.kw, s = rs - r * d.kw;
        const int ih = i * d.sh - d.ph + r * d.dh, iw = j * d.sw - d.pw + s * d.dw;
        if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) return 0.f;
        return x[((int64_t(img) * d.c_in + int64_t(g) * d.cg + c) * d.h + ih) * d.w + iw];
    }
    __device__ __forceinline__ void store(int g, int m, int n, float v, bool accumulate) const {
        float* p = dw + (int64_t(g) * d.kg + m) * N + n;
        if (accumulate) atomicAdd(p, v);
        else *p = v;
    }
};

}  // namespace

void conv2d_grad_weight(const Conv2dShape& s, uintptr_t x, uintptr_t dy, uintptr_t dw, uintptr_t stream) {
    ConvGradWeightOp op;
    op.d = conv_detail::make_dims(s, "cuda conv2d_grad_weight");
    if (s.c_out == 0 || s.c_in == 0 || s.kh == 0 || s.kw == 0) return;
    conv_detail::check_gemm_dims(s.c_out / s.groups, (s.c_in / s.groups) * s.kh * s.kw, s.n * s.oh * s.ow,
                                 "cuda conv2d_grad_weight");
    require_device();
    op.M = op.d.kg;
    op.N = op.d.cg * op.d.kh * op.d.kw;
    op.K = op.d.n * op.d.oh * op.d.ow;
    op.groups = op.d.groups;
    op.x = reinterpret_cast<const float*>(x);
    op.dy = reinterpret_cast<const float*>(dy);
    op.dw = reinterpret_cast<float*>(dw);
    auto st = reinterpret_cast<cudaStream_t>(stream);
    const int sms = multiprocessor_count(current_device());
    const int64_t tiles = conv_detail::small_tile_blocks(op);
    const int64_t want = 2 * int64_t(sms);
    const int64_t ksteps = (int64_t(op.K) + conv_detail::kBK - 1) / conv_detail::kBK;
    // Each split keeps at least 8 k steps (128 products per output) so the atomics stay rare.
    int64_t splits = std::min<int64_t>((want + tiles - 1) / tiles, std::max<int64_t>(1, ksteps / 8));
    splits = std::max<int64_t>(1, std::min<int64_t>(splits, 65535 / std::max(1, op.groups)));
    if (splits > 1)
        TF_CUDA_CHECK(cudaMemsetAsync(op.dw, 0, size_t(s.c_out) * op.N * sizeof(float), st));
    conv_detail::launch_igemm(op, static_cast<int>(splits), sms, st, "cuda conv2d_grad_weight");
}

}  // namespace tf::cuda
