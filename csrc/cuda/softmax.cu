// softmax.cu: softmax and log-softmax over the last dimension, forward and backward, float32.
//
// NOT YET RUN ON A GPU. Written and compiled on machines with nvcc and no GPU; its indexing,
// reductions and barriers are checked by the CPU emulation (emu/emu_softmax_ce.cpp), nothing about
// it is known on a device until tests/test_cuda_kernels.py and bench/gpu_suite.sh have run on one.
//
// What it computes (PyTorch's F.softmax / F.log_softmax with dim=-1), per row r of x:
//   m = max_j x_j,  s = sum_j exp(x_j - m);
//   softmax:      y_j = exp(x_j - m) / s,         backward: dx_j = y_j * (dy_j - sum_k dy_k y_k);
//   log-softmax:  y_j = (x_j - m) - log(s),       backward: dx_j = dy_j - exp(y_j) * sum_k dy_k.
// The backwards take the forward's output y (not x). A row holding +inf or NaN gives NaN, a row
// of -inf gives NaN (as PyTorch). Layout: x, y, dy, dx contiguous (rows, cols), row-major.
//
// Algorithm and launch shape (row_reduce.cuh): one warp per row (8 rows per 256-thread block) for
// cols <= 1024, one 512-thread block per row above that. Forward: the row's max and sum of
// exp(x - max) (row_stats: a warp row takes a max pass and a sum pass, the second from L1; a
// block row one pass with the online (max, sum) pair per thread, merged by shuffles and shared
// memory), then a last pass re-reads x and writes y. DRAM traffic is 4 bytes read and 4 written
// per element when the re-read hits cache: always for warp rows (4 KB), in L2 for block rows
// while the rows in flight fit (at C = 50257 a row is 200 KB; 132 SMs x 4 blocks of 512 threads
// is ~100 MB, more than an H100's L2, so part of the re-read may come from DRAM: unmeasured).
// Backward: one pass for the row's dot product (or sum) of dy, a second that re-reads y and dy
// (from cache while they stay there) and writes dx.
// Runs on the caller's stream, no wait.
#include <cuda_runtime.h>

#include <tensorforge/cuda_api.h>

#include "check.cuh"
#include "launch.cuh"
#include "row_reduce.cuh"

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tf::cuda {
namespace {
namespace softmax_detail {

using namespace row_detail;

template <int kRowThreads, bool kLog>
__global__ void __launch_bounds__(RowShape<kRowThreads>::kThreads)
    softmax_forward_kernel(int64_t rows, int64_t cols, const float* __restrict__ x, float* __restrict__ y) {
    using Shape = RowShape<kRowThreads>;
    const int64_t r = Shape::row();
    if (r >= rows) return;  // the row's whole warp (or block) leaves together
    const int lane = Shape::lane();
    const float* xr = x + r * cols;
    const MaxSum st = row_stats<kRowThreads>(xr, cols, lane, [](int64_t, float) {});
    float* yr = y + r * cols;
    const auto load = [xr](int64_t j) { return xr[j]; };
    if constexpr (kLog) {
        const float log_sum = log_normalizer(st);
        for_each_col<kRowThreads>(cols, lane, load, [&](int64_t j, float v) { yr[j] = (v - st.max) - log_sum; });
    } else {
        const float inv_sum = inv_normalizer(st);
        for_each_col<kRowThreads>(cols, lane, load, [&](int64_t j, float v) { yr[j] = expf(v - st.max) * inv_sum; });
    }
}

template <int kRowThreads, bool kLog>
__global__ void __launch_bounds__(RowShape<kRowThreads>::kThreads)
    softmax_backward_kernel(int64_t rows, int64_t cols, const float* __restrict__ y, const float* __restrict__ dy,
                            float* __restrict__ dx) {
    using Shape = RowShape<kRowThreads>;
    const int64_t r = Shape::row();
    if (r >= rows) return;
    const int lane = Shape::lane();
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    const auto load = [yr, dyr](int64_t j) { return Pair{yr[j], dyr[j]}; };  // (y, dy)
    float part = 0.f;
    if constexpr (kLog)
        for_each_col<kRowThreads>(cols, lane, [dyr](int64_t j) { return dyr[j]; },
                                  [&](int64_t, float g) { part += g; });
    else
        for_each_col<kRowThreads>(cols, lane, load, [&](int64_t, Pair v) { part += v.b * v.a; });
    const float total = row_sum<kRowThreads>(part);
    float* dxr = dx + r * cols;
    for_each_col<kRowThreads>(cols, lane, load, [&](int64_t j, Pair v) {
        dxr[j] = kLog ? v.b - expf(v.a) * total : v.a * (v.b - total);
    });
}

void check_sizes(int64_t rows, int64_t cols, const char* what) {
    if (rows < 0 || cols < 0)
        throw std::runtime_error(std::string(what) + ": negative size (rows=" + std::to_string(rows) +
                                 ", cols=" + std::to_string(cols) + ")");
    if (rows > 0x7fffffff)
        throw std::runtime_error(std::string(what) + ": too many rows (" + std::to_string(rows) + ")");
}

// The arrays of one call (the forward uses x, y; the backward y_in, dy, dx).
struct Pointers {
    const float* x = nullptr;
    float* y = nullptr;
    const float* y_in = nullptr;
    const float* dy = nullptr;
    float* dx = nullptr;
};

// One row kernel, by row length: a warp per row up to kMaxWarpRowCols columns, a block per row above.
template <bool kLog>
void launch(bool forward, int64_t rows, int64_t cols, cudaStream_t stream, const Pointers& a) {
    constexpr int kBlock = kBlockRowThreads;
    const bool warp_rows = cols <= kMaxWarpRowCols;
    const dim3 grid(warp_rows ? RowShape<32>::blocks(rows) : RowShape<kBlock>::blocks(rows));
    const int threads = warp_rows ? RowShape<32>::kThreads : RowShape<kBlock>::kThreads;
    if (forward) {
        auto* kernel = warp_rows ? &softmax_forward_kernel<32, kLog> : &softmax_forward_kernel<kBlock, kLog>;
        TF_LAUNCH(kernel, grid, threads, stream, rows, cols, a.x, a.y);
        TF_CUDA_CHECK_LAUNCH("softmax_forward_kernel");
    } else {
        auto* kernel = warp_rows ? &softmax_backward_kernel<32, kLog> : &softmax_backward_kernel<kBlock, kLog>;
        TF_LAUNCH(kernel, grid, threads, stream, rows, cols, a.y_in, a.dy, a.dx);
        TF_CUDA_CHECK_LAUNCH("softmax_backward_kernel");
    }
}

}  // namespace softmax_detail
}  // namespace

void softmax_forward(int64_t rows, int64_t cols, bool log, uintptr_t x, uintptr_t y, uintptr_t stream) {
    namespace d = softmax_detail;
    d::check_sizes(rows, cols, "cuda softmax_forward");
    if (rows == 0 || cols == 0) return;
    require_device();
    d::Pointers a;
    a.x = reinterpret_cast<const float*>(x);
    a.y = reinterpret_cast<float*>(y);
    auto st = reinterpret_cast<cudaStream_t>(stream);
    if (log) d::launch<true>(true, rows, cols, st, a);
    else d::launch<false>(true, rows, cols, st, a);
}

void softmax_backward(int64_t rows, int64_t cols, bool log, uintptr_t y, uintptr_t dy, uintptr_t dx,
                      uintptr_t stream) {
    namespace d = softmax_detail;
    d::check_sizes(rows, cols, "cuda softmax_backward");
    if (rows == 0 || cols == 0) return;
    require_device();
    d::Pointers a;
    a.y_in = reinterpret_cast<const float*>(y);
    a.dy = reinterpret_cast<const float*>(dy);
    a.dx = reinterpret_cast<float*>(dx);
    auto st = reinterpret_cast<cudaStream_t>(stream);
    if (log) d::launch<true>(false, rows, cols, st, a);
    else d::launch<false>(false, rows, cols, st, a);
}

}  // namespace tf::cuda
