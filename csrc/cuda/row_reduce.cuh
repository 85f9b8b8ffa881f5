// row_reduce.cuh: what softmax.cu and cross_entropy.cu share: the two launch shapes of a row
// kernel over a contiguous (rows, cols) float32 array, and the reductions across a row's threads.
//
// NOT YET RUN ON A GPU: compiled with nvcc and run on the CPU under TF_CUDA_EMULATE only.
//
// Launch shapes (RowShape<kRowThreads>):
//   * kRowThreads = 32:  one warp per row, 8 rows (256 threads) per block, for cols <= 1024;
//   * kRowThreads = 512: one block of 512 threads per row, for longer rows (vocabularies of 50k+).
// A row's threads stride its columns by kRowThreads (each warp reads 32 consecutive floats), so a
// whole warp (or block) always takes the same branch at row level and leaves together.
//
// Reductions end with every thread of the row holding the same total: warp shuffles (xor
// butterfly), then, for a block, the 16 warp results meet in shared memory and every thread
// combines them in the same order.
//
// row_stats gives a row's max and sum_j exp(x_j - max). A warp row (at most 4 KB, in L1 after its
// first read) takes two cheap passes: the max, then the sum, each reduced by 5 shuffles. A block
// row (up to hundreds of KB: a second read would come from L2 or DRAM) takes one pass with the
// online log-sum-exp pair (MaxSum; Milakov and Gimelshein's "online normalizer"): sum_j exp(x_j -
// max) kept while max grows, and partial pairs merged as
//   max = max(a.max, b.max),  sum = a.sum * exp(a.max - max) + b.sum * exp(b.max - max),
// which costs two exps per merge (shuffle level) but no second pass.
#pragma once
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

namespace tf::cuda::row_detail {

constexpr int kWarpRowsPerBlock = 8;
constexpr int kBlockRowThreads = 512;
constexpr int64_t kMaxWarpRowCols = 1024;  // longer rows get a block each

template <int kRowThreads>
struct RowShape {
    static_assert(kRowThreads == 32 || kRowThreads == kBlockRowThreads, "a row is one warp or one block");
    static constexpr int kRowsPerBlock = kRowThreads == 32 ? kWarpRowsPerBlock : 1;
    static constexpr int kThreads = kRowThreads * kRowsPerBlock;

    __device__ static int64_t row() {
        return static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + static_cast<int>(threadIdx.x) / kRowThreads;
    }
    __device__ static int lane() { return static_cast<int>(threadIdx.x) % kRowThreads; }
    static unsigned blocks(int64_t rows) { return static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock); }
};

// Calls use(j, load(j)) for the row's columns j = lane, lane + kRowThreads, ... < cols, in that
// order, issuing kUnroll (predicated) loads before using any of them: a memory-bound row needs
// several loads in flight per thread to cover DRAM latency, and a loop that uses each value as it
// arrives keeps one. `use` appears once (no separate tail loop), so its lambda inlines: with a
// tail copy ptxas kept a call in the block-row cross-entropy forward and spilled around it.
template <int kRowThreads, class Load, class Use>
__device__ __forceinline__ void for_each_col(int64_t cols, int lane, Load&& load, Use&& use) {
    constexpr int kUnroll = 4;
    using Value = decltype(load(int64_t{0}));
    for (int64_t j0 = lane; j0 < cols; j0 += kUnroll * kRowThreads) {
        Value v[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
            if (j0 + u * kRowThreads < cols) v[u] = load(j0 + u * kRowThreads);
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
            if (j0 + u * kRowThreads < cols) use(j0 + u * kRowThreads, v[u]);
    }
}

// Two floats loaded together (y and dy in the softmax backward).
struct Pair {
    float a, b;
};

// Running max of a set of values and the sum of exp(value - max); empty: {-inf, 0}.
struct MaxSum {
    float max;
    float sum;
};

__device__ __forceinline__ void online_add(MaxSum& a, float x) {
    if (x > a.max) {
        a.sum = a.sum * expf(a.max - x) + 1.f;  // a.max = -inf (empty so far): 0 * 0 + 1
        a.max = x;
    } else if (x != -INFINITY) {  // -inf adds nothing; a NaN falls through here and poisons the sum
        a.sum += expf(x - a.max);
    }
}

__device__ __forceinline__ MaxSum merge(MaxSum a, MaxSum b) {
    const float m = fmaxf(a.max, b.max);
    if (m == -INFINITY) return {m, 0.f};  // both empty (or all -inf): exp(-inf - -inf) would be NaN
    return {m, a.sum * expf(a.max - m) + b.sum * expf(b.max - m)};
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

__device__ __forceinline__ MaxSum warp_merge(MaxSum v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) {
        const MaxSum other{__shfl_xor_sync(0xffffffffu, v.max, offset), __shfl_xor_sync(0xffffffffu, v.sum, offset)};
        v = merge(v, other);
    }
    return v;
}

// The sum over a row's threads; every thread of the row must call it.
template <int kRowThreads>
__device__ __forceinline__ float row_sum(float v) {
    v = warp_sum(v);
    if constexpr (kRowThreads == 32) {
        return v;
    } else {
        constexpr int kWarps = kRowThreads / 32;
        __shared__ float part[kWarps];
        const int warp = static_cast<int>(threadIdx.x) / 32;
        if (threadIdx.x % 32 == 0) part[warp] = v;
        __syncthreads();
        float total = 0.f;
#pragma unroll
        for (int i = 0; i < kWarps; ++i) total += part[i];
        __syncthreads();  // part[] may be written again by the next reduction
        return total;
    }
}

// The MaxSum of a row from each thread's partial one; every thread of the row must call it.
template <int kRowThreads>
__device__ __forceinline__ MaxSum row_merge(MaxSum v) {
    v = warp_merge(v);
    if constexpr (kRowThreads == 32) {
        return v;
    } else {
        constexpr int kWarps = kRowThreads / 32;
        __shared__ float part_max[kWarps], part_sum[kWarps];
        const int warp = static_cast<int>(threadIdx.x) / 32;
        if (threadIdx.x % 32 == 0) {
            part_max[warp] = v.max;
            part_sum[warp] = v.sum;
        }
        __syncthreads();
        MaxSum total{part_max[0], part_sum[0]};
#pragma unroll
        for (int i = 1; i < kWarps; ++i) total = merge(total, MaxSum{part_max[i], part_sum[i]});
        __syncthreads();
        return total;
    }
}

// The max and sum_j exp(x_j - max) of the row xr (cols floats) for every thread of the row, which
// must all call it; `visit(j, x_j)` sees each element once, in the pass that reads it from memory.
// fmaxf skips NaN, but a NaN element makes the sum NaN either way (and so the row's results).
template <int kRowThreads, class Visit>
__device__ __forceinline__ MaxSum row_stats(const float* xr, int64_t cols, int lane, Visit&& visit) {
    const auto load = [xr](int64_t j) { return xr[j]; };
    if constexpr (kRowThreads == 32) {
        float m = -INFINITY;
        for_each_col<32>(cols, lane, load, [&](int64_t j, float v) {
            visit(j, v);
            m = fmaxf(m, v);
        });
        m = warp_max(m);
        float s = 0.f;
        if (m != -INFINITY)  // a row of -inf sums to 0 (exp(-inf - -inf) would be NaN)
            for_each_col<32>(cols, lane, load, [&](int64_t, float v) { s += expf(v - m); });
        return {m, warp_sum(s)};
    } else {
        MaxSum st{-INFINITY, 0.f};
        for_each_col<kRowThreads>(cols, lane, load, [&](int64_t j, float v) {
            visit(j, v);
            online_add(st, v);
        });
        return row_merge<kRowThreads>(st);
    }
}

// log(sum_j exp(x_j - max)) and 1 / sum_j exp(x_j - max); NaN when the row holds +inf (PyTorch's
// softmax is NaN there too). A row of -inf has sum 0, and exp(x - max) = exp(NaN) then makes it NaN.
__device__ __forceinline__ float log_normalizer(const MaxSum& s) { return s.max == INFINITY ? NAN : logf(s.sum); }
__device__ __forceinline__ float inv_normalizer(const MaxSum& s) { return s.max == INFINITY ? NAN : 1.f / s.sum; }

}  // namespace tf::cuda::row_detail
