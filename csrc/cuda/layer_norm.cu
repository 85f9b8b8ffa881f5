// layer_norm.cu: LayerNorm over the last dimension, forward and backward, float32.
//
// NOT YET RUN ON A GPU. Written and compiled on machines with nvcc and no GPU; its indexing,
// reductions and barriers are checked by the CPU emulation (emu/emu_kernels.cpp), nothing about
// it is known on a device until tests/test_cuda_kernels.py and bench/gpu_suite.sh have run on one.
//
// What it computes (PyTorch's F.layer_norm on a (rows, cols) view, cols = prod(normalized_shape)):
//   forward:  mean_r = sum_j x_rj / cols,  rstd_r = 1 / sqrt(sum_j (x_rj - mean_r)^2 / cols + eps),
//             y_rj = (x_rj - mean_r) * rstd_r * gamma_j + beta_j   (gamma, beta optional);
//             mean and rstd are saved for the backward.
//   backward: xhat = (x - mean) * rstd, g = dy * gamma (or dy),
//             dx_rj = rstd_r * (g_rj - mean_j(g_r.) - xhat_rj * mean_j(g_r. * xhat_r.)),
//             dgamma_j = sum_r dy_rj * xhat_rj,  dbeta_j = sum_r dy_rj.
// All arrays contiguous; x, y, dy, dx are (rows, cols); gamma, beta, dgamma, dbeta (cols,);
// mean, rstd (rows,).
//
// Algorithm and launch shape
//   * Row kernels (forward, dx): one warp per row, 8 warps (256 threads) per block, grid
//     ceil(rows / 8). Lanes stride the row by 32 (coalesced); the sums are warp shuffles; the
//     variance is taken about the mean (two passes over the row, the second from L1/L2), so it
//     does not cancel catastrophically the way E[x^2] - E[x]^2 does.
//   * Parameter gradients: grid (ceil(cols / 32), row chunks), blocks of 32 x 8 threads. Thread
//     (tx, ty) sums column bx * 32 + tx over rows ty, ty + 8, ... of its chunk (each warp reads 32
//     consecutive floats of a row), the 8 partial sums meet in shared memory, and one atomicAdd
//     per column and block lands in dgamma / dbeta, zeroed first on the same stream. The order of
//     the atomics varies, so these two are not bitwise reproducible run to run (like cuDNN's).
//   Everything runs on the caller's stream and returns without waiting.
#include <cuda_runtime.h>

#include <tensorforge/cuda_api.h>

#include "check.cuh"
#include "launch.cuh"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tf::cuda {
namespace {
namespace layer_norm_detail {

constexpr int kWarpsPerBlock = 8;
constexpr int kColsPerBlock = 32, kRowThreads = 8;  // parameter-gradient blocks: 32 x 8 threads
constexpr int64_t kMaxGrid = 65535;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    layer_norm_forward_kernel(int64_t rows, int64_t cols, float eps, const float* __restrict__ x,
                              const float* __restrict__ gamma, const float* __restrict__ beta, float* __restrict__ y,
                              float* __restrict__ mean_out, float* __restrict__ rstd_out) {
    const int lane = static_cast<int>(threadIdx.x) % 32;
    const int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
    if (r >= rows) return;  // the whole warp leaves together
    const float* xr = x + r * cols;
    float sum = 0.f;
    for (int64_t j = lane; j < cols; j += 32) sum += xr[j];
    const float mean = warp_sum(sum) / static_cast<float>(cols);
    float sq = 0.f;
    for (int64_t j = lane; j < cols; j += 32) {
        const float d = xr[j] - mean;
        sq += d * d;
    }
    const float rstd = rsqrtf(warp_sum(sq) / static_cast<float>(cols) + eps);
    float* yr = y + r * cols;
    for (int64_t j = lane; j < cols; j += 32) {
        float v = (xr[j] - mean) * rstd;
        if (gamma) v *= gamma[j];
        if (beta) v += beta[j];
        yr[j] = v;
    }
    if (lane == 0) {
        mean_out[r] = mean;
        rstd_out[r] = rstd;
    }
}

__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    layer_norm_grad_input_kernel(int64_t rows, int64_t cols, const float* __restrict__ x,
                                 const float* __restrict__ gamma, const float* __restrict__ mean,
                                 const float* __restrict__ rstd, const float* __restrict__ dy, float* __restrict__ dx) {
    const int lane = static_cast<int>(threadIdx.x) % 32;
    const int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
    if (r >= rows) return;
    const float* xr = x + r * cols;
    const float* dyr = dy + r * cols;
    const float mu = mean[r], rs = rstd[r];
    float sum_g = 0.f, sum_gx = 0.f;
    for (int64_t j = lane; j < cols; j += 32) {
        const float g = gamma ? dyr[j] * gamma[j] : dyr[j];
        sum_g += g;
        sum_gx += g * (xr[j] - mu) * rs;
    }
    const float mean_g = warp_sum(sum_g) / static_cast<float>(cols);
    const float mean_gx = warp_sum(sum_gx) / static_cast<float>(cols);
    float* dxr = dx + r * cols;
    for (int64_t j = lane; j < cols; j += 32) {
        const float g = gamma ? dyr[j] * gamma[j] : dyr[j];
        dxr[j] = rs * (g - mean_g - (xr[j] - mu) * rs * mean_gx);
    }
}

__global__ void __launch_bounds__(kColsPerBlock * kRowThreads)
    layer_norm_grad_params_kernel(int64_t rows, int64_t cols, int64_t rows_per_chunk, const float* __restrict__ x,
                                  const float* __restrict__ mean, const float* __restrict__ rstd,
                                  const float* __restrict__ dy, float* __restrict__ dgamma, float* __restrict__ dbeta) {
    __shared__ float part_g[kRowThreads][kColsPerBlock + 1];
    __shared__ float part_b[kRowThreads][kColsPerBlock + 1];
    const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
    const int64_t col = static_cast<int64_t>(blockIdx.x) * kColsPerBlock + tx;
    const int64_t r0 = static_cast<int64_t>(blockIdx.y) * rows_per_chunk;
    const int64_t r1 = rows < r0 + rows_per_chunk ? rows : r0 + rows_per_chunk;
    float acc_g = 0.f, acc_b = 0.f;
    if (col < cols)
        for (int64_t r = r0 + ty; r < r1; r += kRowThreads) {
            const float d = dy[r * cols + col];
            acc_g += d * (x[r * cols + col] - mean[r]) * rstd[r];
            acc_b += d;
        }
    part_g[ty][tx] = acc_g;
    part_b[ty][tx] = acc_b;
    __syncthreads();
    if (ty == 0 && col < cols) {
        float g = 0.f, b = 0.f;
#pragma unroll
        for (int i = 0; i < kRowThreads; ++i) {
            g += part_g[i][tx];
            b += part_b[i][tx];
        }
        if (dgamma) atomicAdd(dgamma + col, g);
        if (dbeta) atomicAdd(dbeta + col, b);
    }
}

void check_sizes(int64_t rows, int64_t cols, const char* what) {
    if (rows < 0 || cols < 0)
        throw std::runtime_error(std::string(what) + ": negative size (rows=" + std::to_string(rows) +
                                 ", cols=" + std::to_string(cols) + ")");
    if ((rows + kWarpsPerBlock - 1) / kWarpsPerBlock > 0x7fffffff)
        throw std::runtime_error(std::string(what) + ": too many rows (" + std::to_string(rows) + ")");
}

}  // namespace layer_norm_detail
}  // namespace

void layer_norm_forward(int64_t rows, int64_t cols, float eps, uintptr_t x, uintptr_t gamma, uintptr_t beta,
                        uintptr_t y, uintptr_t mean, uintptr_t rstd, uintptr_t stream) {
    namespace d = layer_norm_detail;
    d::check_sizes(rows, cols, "cuda layer_norm_forward");
    if (rows == 0 || cols == 0) return;
    require_device();
    const dim3 grid(static_cast<unsigned>((rows + d::kWarpsPerBlock - 1) / d::kWarpsPerBlock));
    auto* kernel = &d::layer_norm_forward_kernel;
    TF_LAUNCH(kernel, grid, d::kWarpsPerBlock * 32, reinterpret_cast<cudaStream_t>(stream), rows, cols, eps,
              reinterpret_cast<const float*>(x), reinterpret_cast<const float*>(gamma),
              reinterpret_cast<const float*>(beta), reinterpret_cast<float*>(y), reinterpret_cast<float*>(mean),
              reinterpret_cast<float*>(rstd));
    TF_CUDA_CHECK_LAUNCH("layer_norm_forward_kernel");
}

void layer_norm_backward(int64_t rows, int64_t cols, uintptr_t x, uintptr_t gamma, uintptr_t mean, uintptr_t rstd,
                         uintptr_t dy, uintptr_t dx, uintptr_t dgamma, uintptr_t dbeta, uintptr_t stream) {
    namespace d = layer_norm_detail;
    d::check_sizes(rows, cols, "cuda layer_norm_backward");
    if (cols == 0) return;
    require_device();
    auto st = reinterpret_cast<cudaStream_t>(stream);
    const auto* px = reinterpret_cast<const float*>(x);
    const auto* pmean = reinterpret_cast<const float*>(mean);
    const auto* prstd = reinterpret_cast<const float*>(rstd);
    const auto* pdy = reinterpret_cast<const float*>(dy);
    // Parameter gradients are sums over rows: zero first (also right when rows == 0).
    if (dgamma) TF_CUDA_CHECK(cudaMemsetAsync(reinterpret_cast<void*>(dgamma), 0, cols * sizeof(float), st));
    if (dbeta) TF_CUDA_CHECK(cudaMemsetAsync(reinterpret_cast<void*>(dbeta), 0, cols * sizeof(float), st));
    if (rows == 0) return;
    if (dx) {
        const dim3 grid(static_cast<unsigned>((rows + d::kWarpsPerBlock - 1) / d::kWarpsPerBlock));
        auto* kernel = &d::layer_norm_grad_input_kernel;
        TF_LAUNCH(kernel, grid, d::kWarpsPerBlock * 32, st, rows, cols, px, reinterpret_cast<const float*>(gamma), pmean,
                  prstd, pdy, reinterpret_cast<float*>(dx));
        TF_CUDA_CHECK_LAUNCH("layer_norm_grad_input_kernel");
    }
    if (dgamma || dbeta) {
        // Chunks of at least 128 rows (enough work per block), at most kMaxGrid of them.
        const int64_t per_chunk = std::max<int64_t>(128, (rows + d::kMaxGrid - 1) / d::kMaxGrid);
        const int64_t chunks = (rows + per_chunk - 1) / per_chunk;
        const int64_t col_blocks = (cols + d::kColsPerBlock - 1) / d::kColsPerBlock;
        if (col_blocks > 0x7fffffff) throw std::runtime_error("cuda layer_norm_backward: too many columns");
        const dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(chunks));
        const dim3 block(d::kColsPerBlock, d::kRowThreads);
        auto* kernel = &d::layer_norm_grad_params_kernel;
        TF_LAUNCH(kernel, grid, block, st, rows, cols, per_chunk, px, pmean, prstd, pdy, reinterpret_cast<float*>(dgamma),
                  reinterpret_cast<float*>(dbeta));
        TF_CUDA_CHECK_LAUNCH("layer_norm_grad_params_kernel");
    }
}

}  // namespace tf::cuda
