// pool2d.cu: max and average 2-D pooling, forward and backward, fp32 (NCHW planes).
//
// NOT YET RUN ON A GPU: compiled with nvcc and run on the CPU under TF_CUDA_EMULATE only
// (tests/test_cuda_emulated_conv_attention.py).
//
// What: the semantics of tf::cpu::*_pool2d_* in csrc/include/tensorforge/pool2d.h:
//   max forward: y = max over the window's in-image taps, idx = flat r*w + c of the first maximum
//     (NaN wins, as in PyTorch); a window with no in-image tap gives -inf and idx -1;
//   avg forward: y = window sum / divisor (divisor_override > 0, else the window clipped to the
//     padded image (count_include_pad) or to the image; avg pooling ignores dilation, as PyTorch);
//   backward: dx written whole.
// Algorithm: one thread per output element (forward) or per input element (backward). The
//   backward passes gather instead of scattering: an input element visits the (at most
//   ceil(kh/sh) x ceil(kw/sw)) windows that cover it and sums dy (max: where idx names it), so
//   there are no atomics and the result is deterministic.
// Layout: planes = n * c dense (h, w) input planes and (oh, ow) output planes; idx int64.
// Launch: 1-D grid-stride, 256 threads, up to 16 blocks per SM, caller's stream.
#include <cuda_runtime.h>

#include <tensorforge/cuda_api.h>

#include "check.cuh"
#include "device_props.cuh"
#include "launch.cuh"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tf::cuda {
namespace {

constexpr int kPoolThreads = 256;

struct PoolDims {
    int64_t planes, h, w, oh, ow;
    int kh, kw, sh, sw, ph, pw, dh, dw;
};

PoolDims make_pool_dims(const Pool2dShape& s, const char* what) {
    if (s.planes < 0 || s.h < 0 || s.w < 0 || s.oh < 0 || s.ow < 0 || s.kh < 1 || s.kw < 1 || s.stride_h < 1 ||
        s.stride_w < 1 || s.pad_h < 0 || s.pad_w < 0 || s.dil_h < 1 || s.dil_w < 1 || s.kh > 0x7fffffff ||
        s.kw > 0x7fffffff || s.stride_h > 0x7fffffff || s.stride_w > 0x7fffffff || s.pad_h > 0x7fffffff ||
        s.pad_w > 0x7fffffff || s.dil_h > 0x7fffffff || s.dil_w > 0x7fffffff)
        throw std::runtime_error(std::string(what) + ": invalid pooling shape");
    return {s.planes, s.h, s.w, s.oh, s.ow, int(s.kh), int(s.kw), int(s.stride_h), int(s.stride_w),
            int(s.pad_h), int(s.pad_w), int(s.dil_h), int(s.dil_w)};
}

__device__ __forceinline__ int64_t lmin(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ __forceinline__ int64_t lmax(int64_t a, int64_t b) { return a < b ? b : a; }

__device__ __forceinline__ int64_t floor_div(int64_t a, int64_t b) {  // b > 0
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

__global__ void __launch_bounds__(kPoolThreads)
    max_pool_fwd_kernel(PoolDims d, const float* __restrict__ x, float* __restrict__ y, int64_t* __restrict__ idx) {
    const int64_t total = d.planes * d.oh * d.ow;
    for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
        const int64_t plane = e / (d.oh * d.ow), ij = e - plane * d.oh * d.ow, i = ij / d.ow, j = ij - i * d.ow;
        const float* xp = x + plane * d.h * d.w;
        float best = -INFINITY;
        int64_t arg = -1;
        for (int p = 0; p < d.kh; ++p) {
            const int64_t r = i * d.sh - d.ph + int64_t(p) * d.dh;
            if (r < 0 || r >= d.h) continue;
            for (int q = 0; q < d.kw; ++q) {
                const int64_t c = j * d.sw - d.pw + int64_t(q) * d.dw;
                if (c < 0 || c >= d.w) continue;
                const float v = xp[r * d.w + c];
                if (arg < 0 || v > best || (v != v && best == best)) {
                    best = v;
                    arg = r * d.w + c;
                }
            }
        }
        y[e] = best;
        idx[e] = arg;
    }
}

__global__ void __launch_bounds__(kPoolThreads)
    max_pool_bwd_kernel(PoolDims d, const float* __restrict__ dy, const int64_t* __restrict__ idx,
                        float* __restrict__ dx) {
    const int64_t total = d.planes * d.h * d.w;
    for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
        const int64_t plane = e / (d.h * d.w), rc = e - plane * d.h * d.w, r = rc / d.w, c = rc - r * d.w;
        const float* dyp = dy + plane * d.oh * d.ow;
        const int64_t* ip = idx + plane * d.oh * d.ow;
        float acc = 0.f;
        for (int p = 0; p < d.kh; ++p) {
            const int64_t t = r + d.ph - int64_t(p) * d.dh;
            if (t < 0 || t % d.sh) continue;
            const int64_t i = t / d.sh;
            if (i >= d.oh) continue;
            for (int q = 0; q < d.kw; ++q) {
                const int64_t u = c + d.pw - int64_t(q) * d.dw;
                if (u < 0 || u % d.sw) continue;
                const int64_t j = u / d.sw;
                if (j >= d.ow) continue;
                if (ip[i * d.ow + j] == rc) acc += dyp[i * d.ow + j];
            }
        }
        dx[e] = acc;
    }
}

// PyTorch's avg-pool divisor for window (i, j).
__device__ __forceinline__ float avg_divisor(const PoolDims& d, int64_t i, int64_t j, bool include_pad,
                                             int64_t override_div) {
    if (override_div > 0) return static_cast<float>(override_div);
    int64_t h0 = i * d.sh - d.ph, w0 = j * d.sw - d.pw;
    int64_t h1 = lmin(h0 + d.kh, d.h + d.ph), w1 = lmin(w0 + d.kw, d.w + d.pw);
    const int64_t padded = (h1 - h0) * (w1 - w0);
    if (include_pad) return static_cast<float>(padded);
    h0 = lmax(h0, int64_t(0));
    w0 = lmax(w0, int64_t(0));
    h1 = lmin(h1, d.h);
    w1 = lmin(w1, d.w);
    return static_cast<float>((h1 - h0) * (w1 - w0));
}

__global__ void __launch_bounds__(kPoolThreads)
    avg_pool_fwd_kernel(PoolDims d, bool include_pad, int64_t override_div, const float* __restrict__ x,
                        float* __restrict__ y) {
    const int64_t total = d.planes * d.oh * d.ow;
    for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
        const int64_t plane = e / (d.oh * d.ow), ij = e - plane * d.oh * d.ow, i = ij / d.ow, j = ij - i * d.ow;
        const float* xp = x + plane * d.h * d.w;
        const int64_t r0 = lmax(i * d.sh - d.ph, int64_t(0)), r1 = lmin(i * d.sh - d.ph + d.kh, d.h);
        const int64_t c0 = lmax(j * d.sw - d.pw, int64_t(0)), c1 = lmin(j * d.sw - d.pw + d.kw, d.w);
        float sum = 0.f;
        for (int64_t r = r0; r < r1; ++r)
            for (int64_t c = c0; c < c1; ++c) sum += xp[r * d.w + c];
        y[e] = sum / avg_divisor(d, i, j, include_pad, override_div);
    }
}

__global__ void __launch_bounds__(kPoolThreads)
    avg_pool_bwd_kernel(PoolDims d, bool include_pad, int64_t override_div, const float* __restrict__ dy,
                        float* __restrict__ dx) {
    const int64_t total = d.planes * d.h * d.w;
    for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
        const int64_t plane = e / (d.h * d.w), rc = e - plane * d.h * d.w, r = rc / d.w, c = rc - r * d.w;
        const float* dyp = dy + plane * d.oh * d.ow;
        // Windows i with i*sh - ph <= r < i*sh - ph + kh, likewise j.
        const int64_t i0 = lmax(floor_div(r + d.ph - d.kh, d.sh) + 1, int64_t(0));
        const int64_t i1 = lmin(floor_div(r + d.ph, d.sh) + 1, d.oh);
        const int64_t j0 = lmax(floor_div(c + d.pw - d.kw, d.sw) + 1, int64_t(0));
        const int64_t j1 = lmin(floor_div(c + d.pw, d.sw) + 1, d.ow);
        float acc = 0.f;
        for (int64_t i = i0; i < i1; ++i)
            for (int64_t j = j0; j < j1; ++j) acc += dyp[i * d.ow + j] / avg_divisor(d, i, j, include_pad, override_div);
        dx[e] = acc;
    }
}

unsigned pool_blocks(int64_t total) {
    const int64_t cap = 16 * int64_t(multiprocessor_count(current_device()));
    return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((total + kPoolThreads - 1) / kPoolThreads, cap)));
}

}  // namespace

void max_pool2d_forward(const Pool2dShape& s, uintptr_t x, uintptr_t y, uintptr_t idx, uintptr_t stream) {
    const PoolDims d = make_pool_dims(s, "cuda max_pool2d_forward");
    const int64_t total = d.planes * d.oh * d.ow;
    if (total == 0) return;
    require_device();
    auto* kernel = &max_pool_fwd_kernel;
    TF_LAUNCH(kernel, pool_blocks(total), kPoolThreads, reinterpret_cast<cudaStream_t>(stream), d,
              reinterpret_cast<const float*>(x), reinterpret_cast<float*>(y), reinterpret_cast<int64_t*>(idx));
    TF_CUDA_CHECK_LAUNCH("max_pool_fwd_kernel");
}

void max_pool2d_backward(const Pool2dShape& s, uintptr_t dy, uintptr_t idx, uintptr_t dx, uintptr_t stream) {
    const PoolDims d = make_pool_dims(s, "cuda max_pool2d_backward");
    const int64_t total = d.planes * d.h * d.w;
    if (total == 0) return;
    require_device();
    auto* kernel = &max_pool_bwd_kernel;
    TF_LAUNCH(kernel, pool_blocks(total), kPoolThreads, reinterpret_cast<cudaStream_t>(stream), d,
              reinterpret_cast<const float*>(dy), reinterpret_cast<const int64_t*>(idx), reinterpret_cast<float*>(dx));
    TF_CUDA_CHECK_LAUNCH("max_pool_bwd_kernel");
}

void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, int64_t divisor_override, uintptr_t x,
                        uintptr_t y, uintptr_t stream) {
    const PoolDims d = make_pool_dims(s, "cuda avg_pool2d_forward");
    const int64_t total = d.planes * d.oh * d.ow;
    if (total == 0) return;
    require_device();
    auto* kernel = &avg_pool_fwd_kernel;
    TF_LAUNCH(kernel, pool_blocks(total), kPoolThreads, reinterpret_cast<cudaStream_t>(stream), d, count_include_pad,
              divisor_override, reinterpret_cast<const float*>(x), reinterpret_cast<float*>(y));
    TF_CUDA_CHECK_LAUNCH("avg_pool_fwd_kernel");
}

void avg_pool2d_backward(const Pool2dShape& s, bool count_include_pad, int64_t divisor_override, uintptr_t dy,
                         uintptr_t dx, uintptr_t stream) {
    const PoolDims d = make_pool_dims(s, "cuda avg_pool2d_backward");
    const int64_t total = d.planes * d.h * d.w;
    if (total == 0) return;
    require_device();
    auto* kernel = &avg_pool_bwd_kernel;
    TF_LAUNCH(kernel, pool_blocks(total), kPoolThreads, reinterpret_cast<cudaStream_t>(stream), d, count_include_pad,
              divisor_override, reinterpret_cast<const float*>(dy), reinterpret_cast<float*>(dx));
    TF_CUDA_CHECK_LAUNCH("avg_pool_bwd_kernel");
}

}  // namespace tf::cuda
