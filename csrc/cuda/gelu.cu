// gelu.cu: GELU forward and backward, float32, elementwise.
//
// NOT YET RUN ON A GPU. Written and compiled on machines with nvcc and no GPU; checked by the CPU
// emulation (emu/emu_kernels.cpp) only, until tests/test_cuda_kernels.py has run on one.
//
// What it computes (PyTorch's F.gelu):
//   approximate = none: y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)),
//                       dy/dx = Phi(x) + x * phi(x),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi);
//   approximate = tanh: u = sqrt(2 / pi) (x + 0.044715 x^3),  y = 0.5 x (1 + tanh u),
//                       dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2 / pi) (1 + 3 * 0.044715 x^2).
//   backward writes dx = dy/dx * grad_output. Contiguous arrays of n elements.
//
// Algorithm and launch shape: memory bound (8 or 12 bytes per element), a grid-stride loop with
// 256 threads per block and at most 8 blocks per SM, on the caller's stream, no wait. erff and
// tanhf are CUDA's float32 functions (a few ulp).
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
namespace gelu_detail {

constexpr int kThreads = 256;
constexpr float kSqrtHalf = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kSqrt2OverPi = 0.79788456080286536f;
constexpr float kCubic = 0.044715f;

__global__ void __launch_bounds__(kThreads)
    gelu_forward_kernel(int64_t n, bool tanh_approx, const float* __restrict__ x, float* __restrict__ y) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
        const float v = x[i];
        y[i] = tanh_approx ? 0.5f * v * (1.f + tanhf(kSqrt2OverPi * (v + kCubic * v * v * v)))
                           : 0.5f * v * (1.f + erff(v * kSqrtHalf));
    }
}

__global__ void __launch_bounds__(kThreads)
    gelu_backward_kernel(int64_t n, bool tanh_approx, const float* __restrict__ x, const float* __restrict__ dy,
                         float* __restrict__ dx) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
        const float v = x[i];
        float slope;
        if (tanh_approx) {
            const float t = tanhf(kSqrt2OverPi * (v + kCubic * v * v * v));
            slope = 0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * kSqrt2OverPi * (1.f + 3.f * kCubic * v * v);
        } else {
            slope = 0.5f * (1.f + erff(v * kSqrtHalf)) + v * kInvSqrt2Pi * expf(-0.5f * v * v);
        }
        dx[i] = slope * dy[i];
    }
}

unsigned grid_for(int64_t n) {
    const int64_t blocks = (n + kThreads - 1) / kThreads;
    return static_cast<unsigned>(std::min<int64_t>(blocks, 8LL * multiprocessor_count(current_device())));
}

}  // namespace gelu_detail
}  // namespace

void gelu_forward(int64_t n, bool tanh_approx, uintptr_t x, uintptr_t y, uintptr_t stream) {
    if (n < 0) throw std::runtime_error("cuda gelu_forward: negative size " + std::to_string(n));
    if (n == 0) return;
    require_device();
    auto* kernel = &gelu_detail::gelu_forward_kernel;
    TF_LAUNCH(kernel, gelu_detail::grid_for(n), gelu_detail::kThreads, reinterpret_cast<cudaStream_t>(stream), n, tanh_approx,
              reinterpret_cast<const float*>(x), reinterpret_cast<float*>(y));
    TF_CUDA_CHECK_LAUNCH("gelu_forward_kernel");
}

void gelu_backward(int64_t n, bool tanh_approx, uintptr_t x, uintptr_t dy, uintptr_t dx, uintptr_t stream) {
    if (n < 0) throw std::runtime_error("cuda gelu_backward: negative size " + std::to_string(n));
    if (n == 0) return;
    require_device();
    auto* kernel = &gelu_detail::gelu_backward_kernel;
    TF_LAUNCH(kernel, gelu_detail::grid_for(n), gelu_detail::kThreads, reinterpret_cast<cudaStream_t>(stream), n, tanh_approx,
              reinterpret_cast<const float*>(x), reinterpret_cast<const float*>(dy), reinterpret_cast<float*>(dx));
    TF_CUDA_CHECK_LAUNCH("gelu_backward_kernel");
}

}  // namespace tf::cuda
