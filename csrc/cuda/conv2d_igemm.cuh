// conv2d_igemm.cuh: the implicit-GEMM engine behind conv2d_forward.cu, conv2d_grad_input.cu and
// conv2d_grad_weight.cu (fp32, CUDA cores).
//
// NOT YET RUN ON A GPU: compiled with nvcc and run on the CPU under TF_CUDA_EMULATE only.
//
// Each convolution pass is, per group g, a GEMM  OUT[g] (M x N) = A[g] (M x K) * B[g] (K x N)
// whose operands are never materialised: an `Op` (one per pass) says how element (m, k) of A and
// (k, n) of B are gathered from the NCHW / OIHW arrays (with padding, stride and dilation; taps
// that fall outside the image read 0) and where OUT(m, n) is stored. The engine is the classic
// register-tiled SGEMM:
//   * a block owns a BM x BN tile of OUT and walks k in steps of 16; 256 threads;
//   * per k step each thread gathers BM/16 elements of A (k fastest across threads: contiguous
//     along the filter taps / pixels) and BN/16 of B (n fastest: contiguous along output pixels)
//     into registers, then stores them k-major into shared memory ([16][BM + 4], double-buffered);
//     the gather of step k+1 is in flight while step k is multiplied; one barrier per k step;
//   * each thread accumulates a T x T block of OUT (in 4 x 4 groups spread over the tile, as in
//     gemm_f32.cu) from float4 shared-memory reads (T*T FFMA per T/2 LDS.128 per k);
//   * split-k (grad-weight, whose k = n*oh*ow is long and whose M x N is small): grid.z carries
//     groups * splits; each split sums its k range and adds into OUT with atomicAdd (OUT zeroed
//     first by the launcher), so results are not bitwise deterministic across runs.
// Two tile shapes: 128 x 128 with 8 x 8 outputs per thread (2 x 16.5 KiB of shared memory)
// when M >= 128 and there are still >= 2 blocks per SM, else 64 x 64 with 4 x 4 (2 x 8.5 KiB).
// Launch shape: grid (ceil(N / BN), ceil(M / BM), groups * splits), block 256, on the caller's
// stream. Index decoding is in 32-bit (the launchers check
// that M, N, K < 2^31); addresses are 64-bit.
//
// Not here (yet): tensor cores (tf32 mma / wgmma), cp.async / TMA staging, NHWC, Winograd, a
// per-thread precomputed gather table, depthwise special case (M = 1 wastes 63/64 of a tile).
#pragma once
#include <cuda_runtime.h>

#include <tensorforge/conv2d.h>

#include "check.cuh"
#include "launch.cuh"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tf::cuda::conv_detail {

constexpr int kBK = 16, kThreads = 256;

// The sizes every Op shares, as 32-bit ints (checked by the launchers).
struct ConvDims {
    int n, c_in, h, w, c_out, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, groups, cg, kg;
};

inline ConvDims make_dims(const Conv2dShape& s, const char* what) {
    const int64_t vals[] = {s.n,        s.c_in,     s.h,     s.w,     s.c_out, s.kh,  s.kw,   s.oh,
                            s.ow,       s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dil_h, s.dil_w, s.groups};
    for (int64_t v : vals)
        if (v < 0 || v > 0x7fffffff) throw std::runtime_error(std::string(what) + ": a size is negative or >= 2^31");
    if (s.groups < 1 || s.c_in % s.groups || s.c_out % s.groups)
        throw std::runtime_error(std::string(what) + ": groups must divide c_in and c_out");
    if (s.stride_h < 1 || s.stride_w < 1 || s.dil_h < 1 || s.dil_w < 1)
        throw std::runtime_error(std::string(what) + ": stride and dilation must be >= 1");
    ConvDims d;
    d.n = int(s.n), d.c_in = int(s.c_in), d.h = int(s.h), d.w = int(s.w), d.c_out = int(s.c_out);
    d.kh = int(s.kh), d.kw = int(s.kw), d.oh = int(s.oh), d.ow = int(s.ow);
    d.sh = int(s.stride_h), d.sw = int(s.stride_w), d.ph = int(s.pad_h), d.pw = int(s.pad_w);
    d.dh = int(s.dil_h), d.dw = int(s.dil_w), d.groups = int(s.groups);
    d.cg = int(s.c_in / s.groups), d.kg = int(s.c_out / s.groups);
    return d;
}

inline void check_gemm_dims(int64_t m, int64_t n, int64_t k, const char* what) {
    if (m > 0x7fffffff || n > 0x7fffffff || k > 0x7fffffff)
        throw std::runtime_error(std::string(what) + ": implicit GEMM of " + std::to_string(m) + " x " +
                                 std::to_string(n) + " x " + std::to_string(k) +
                                 " exceeds 32-bit indexing; split the batch");
}

// Op interface: int M, N, K (per group); __device__ float a(g, m, k), b(g, k, n);
// __device__ void store(g, m, n, v, accumulate).
// Tile BM x BN (x kBK), T x T outputs per thread (T = 4 for 64 x 64, 8 for 128 x 128), 256 threads.
template <class Op, int BM, int BN, int T>
__global__ void __launch_bounds__(kThreads) conv_igemm_kernel(Op op, int k_per_split) {
    static_assert((BM / T) * (BN / T) == kThreads, "256 threads of T x T outputs");
    static_assert(T % 4 == 0 && BM % kBK == 0, "bad tile");
    constexpr int LDA = BM + 4, LDB = BN + 4;  // 16-byte aligned rows
    constexpr int A_PER = BM * kBK / kThreads, B_PER = BN * kBK / kThreads;
    constexpr int A_STEP = kThreads / kBK, B_STEP = kThreads / BN;
    constexpr int GROUP_A = BM * 4 / T, GROUP_B = BN * 4 / T;  // distance between 4-row / 4-col groups
    __shared__ __align__(16) float As[2][kBK * LDA];
    __shared__ __align__(16) float Bs[2][kBK * LDB];

    const int g = static_cast<int>(blockIdx.z) % op.groups;
    const int split = static_cast<int>(blockIdx.z) / op.groups;
    const int m0 = static_cast<int>(blockIdx.y) * BM;
    const int n0 = static_cast<int>(blockIdx.x) * BN;
    const int kbeg = split * k_per_split;
    const int kend = op.K < kbeg + k_per_split ? op.K : kbeg + k_per_split;
    const int tid = static_cast<int>(threadIdx.x);

    // Gather mapping: A element i of this thread is (m0 + tid / 16 + 16 i, k0 + tid % 16),
    // B element i is (k0 + tid / BN + (256 / BN) i, n0 + tid % BN).
    const int a_k = tid % kBK, a_m = tid / kBK;
    const int b_n = tid % BN, b_k = tid / BN;
    float ra[A_PER], rb[B_PER];
    auto gather = [&](int k0) {
#pragma unroll
        for (int i = 0; i < A_PER; ++i) {
            const int m = m0 + a_m + A_STEP * i, k = k0 + a_k;
            ra[i] = (m < op.M && k < kend) ? op.a(g, m, k) : 0.f;
        }
#pragma unroll
        for (int i = 0; i < B_PER; ++i) {
            const int k = k0 + b_k + B_STEP * i, n = n0 + b_n;
            rb[i] = (n < op.N && k < kend) ? op.b(g, k, n) : 0.f;
        }
    };
    auto stash = [&](int buf) {
#pragma unroll
        for (int i = 0; i < A_PER; ++i) As[buf][a_k * LDA + a_m + A_STEP * i] = ra[i];
#pragma unroll
        for (int i = 0; i < B_PER; ++i) Bs[buf][(b_k + B_STEP * i) * LDB + b_n] = rb[i];
    };

    // Thread (tx, ty) owns rows ty*4 + (i % 4) + (i / 4) * GROUP_A and columns likewise.
    const int tx = tid % (BN / T), ty = tid / (BN / T);
    float acc[T][T];
#pragma unroll
    for (int i = 0; i < T; ++i)
#pragma unroll
        for (int j = 0; j < T; ++j) acc[i][j] = 0.f;

    const int ksteps = kend > kbeg ? (kend - kbeg + kBK - 1) / kBK : 0;
    if (ksteps > 0) {
        gather(kbeg);
        stash(0);
    }
    __syncthreads();
    for (int kt = 0; kt < ksteps; ++kt) {
        const int cur = kt & 1;
        const bool has_next = kt + 1 < ksteps;
        if (has_next) gather(kbeg + (kt + 1) * kBK);
        const float* as = As[cur];
        const float* bs = Bs[cur];
#pragma unroll
        for (int kk = 0; kk < kBK; ++kk) {
            float a[T], b[T];
#pragma unroll
            for (int q = 0; q < T / 4; ++q) {
                const float4 av = *reinterpret_cast<const float4*>(as + kk * LDA + ty * 4 + q * GROUP_A);
                const float4 bv = *reinterpret_cast<const float4*>(bs + kk * LDB + tx * 4 + q * GROUP_B);
                a[4 * q + 0] = av.x, a[4 * q + 1] = av.y, a[4 * q + 2] = av.z, a[4 * q + 3] = av.w;
                b[4 * q + 0] = bv.x, b[4 * q + 1] = bv.y, b[4 * q + 2] = bv.z, b[4 * q + 3] = bv.w;
            }
#pragma unroll
            for (int i = 0; i < T; ++i)
#pragma unroll
                for (int j = 0; j < T; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        // The other buffer was last read in step kt - 1, before that step's barrier.
        if (has_next) stash(cur ^ 1);
        __syncthreads();
    }

    const bool accumulate = gridDim.z > static_cast<unsigned>(op.groups);
#pragma unroll
    for (int i = 0; i < T; ++i) {
        const int m = m0 + ty * 4 + (i & 3) + (i >> 2) * GROUP_A;
        if (m >= op.M) continue;
#pragma unroll
        for (int j = 0; j < T; ++j) {
            const int n = n0 + tx * 4 + (j & 3) + (j >> 2) * GROUP_B;
            if (n < op.N) op.store(g, m, n, acc[i][j], accumulate);
        }
    }
}

constexpr int kMaxGridYZ = 65535;

template <class Op, int BM, int BN, int T>
void launch_tiles(const Op& op, int splits, cudaStream_t stream, const char* what) {
    const int64_t mt = (op.M + BM - 1) / BM, nt = (int64_t(op.N) + BN - 1) / BN;
    splits = std::max(1, splits);
    const int64_t kps_raw = (int64_t(op.K) + splits - 1) / splits;
    const int k_per_split = static_cast<int>(std::max<int64_t>(kBK, (kps_raw + kBK - 1) / kBK * kBK));
    splits = op.K == 0 ? 1 : static_cast<int>((int64_t(op.K) + k_per_split - 1) / k_per_split);
    const int64_t gz = int64_t(op.groups) * splits;
    if (mt > kMaxGridYZ || gz > kMaxGridYZ)
        throw std::runtime_error(std::string(what) + ": too many channels or groups for one launch");
    dim3 grid(static_cast<unsigned>(nt), static_cast<unsigned>(mt), static_cast<unsigned>(gz));
    auto* kernel = &conv_igemm_kernel<Op, BM, BN, T>;
    TF_LAUNCH(kernel, grid, kThreads, stream, op, k_per_split);
    TF_CUDA_CHECK_LAUNCH("conv_igemm_kernel");
}

// Blocks of 64 x 64 tiles for a problem (the small configuration).
template <class Op>
int64_t small_tile_blocks(const Op& op) {
    return ((int64_t(op.M) + 63) / 64) * ((int64_t(op.N) + 63) / 64) * op.groups;
}

// Launches `op` with `splits` k-splits (splits > 1: OUT must be zeroed already): 128 x 128 tiles
// (8 x 8 per thread) when M >= 128 and they still give every SM two blocks, else 64 x 64 (4 x 4).
template <class Op>
void launch_igemm(const Op& op, int splits, int sms, cudaStream_t stream, const char* what) {
    if (op.M == 0 || op.N == 0) return;
    const int64_t big_blocks = ((int64_t(op.M) + 127) / 128) * ((int64_t(op.N) + 127) / 128) * op.groups *
                               std::max(1, splits);
    if (op.M >= 128 && big_blocks >= 2 * int64_t(sms)) launch_tiles<Op, 128, 128, 8>(op, splits, stream, what);
    else launch_tiles<Op, 64, 64, 4>(op, splits, stream, what);
}

}  // namespace tf::cuda::conv_detail
