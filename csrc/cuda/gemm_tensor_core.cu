// gemm_tensor_core.cu: float32 GEMM on the tensor cores, with tf32 or bf16 multiplies (mma.sync).
//
// NOT YET RUN ON A GPU. Written and compiled on machines with nvcc and no GPU; its indexing,
// bounds and barriers are checked by the CPU emulation (emu/emu_kernels.cpp, where mma.sync is
// emulated from the PTX ISA's fragment tables), nothing about it is known on a device until
// tests/test_cuda_kernels.py and bench/gpu_suite.sh have run on one.
//
// What it computes
//   C = alpha * op(A) * op(B) + beta * C with the semantics of gemm_f32.cu (tf::cpu::gemm: row-major
//   float32 storage, transpose flags, leading dimensions, beta == 0 means C is write-only, strided
//   batch with stride 0 broadcasting), except that the products are taken on the tensor cores with
//   the inputs rounded first, as PyTorch's float32_matmul_precision allows:
//     tf32 ("high"):   A and B rounded to tf32 (10-bit mantissa, round to nearest, ties away, as
//                      cvt.rna.tf32.f32 does), mma.sync.m16n8k8.f32.tf32.tf32.f32;
//     bf16 ("medium"): A and B rounded to bfloat16 (7-bit mantissa, round to nearest even),
//                      mma.sync.m16n8k16.f32.bf16.bf16.f32.
//   Accumulation is float32 in both. Needs compute capability 8.0 (Ampere) or newer; the launcher
//   refuses older GPUs with a clear error.
//
// Algorithm
//   * A thread block (256 threads, 8 warps) owns a 128 x 128 tile of C and walks k in tiles of 64
//     bytes per row: 16 floats (tf32) or 32 bfloat16 (bf16), i.e. 16 32-bit words per row.
//   * Global -> registers -> shared memory: each thread loads 8 words' worth of op(A) and of op(B)
//     (scalar loads, coalesced along whichever of k or m/n is contiguous in memory; anything outside
//     the matrices reads as 0, so edges need no slow path), rounds them to tf32 / packs pairs of
//     bfloat16 into one word, and stores them into shared memory "k-major per row": A tile
//     [128 rows of m][16 words of k], B tile [128 rows of n][16 words of k], each row padded to 20
//     words so that the fragment reads below are free of bank conflicts ((20 * g + t) mod 32 is
//     distinct for the 32 lanes).
//   * Double buffering: the next k tile is loaded into registers while the tensor cores work on the
//     current one from shared memory; one __syncthreads per k tile (as in gemm_f32.cu).
//   * Warp tiling: warp w computes rows 64 * (w / 4) .. +64 and columns 32 * (w % 4) .. +32 of the
//     block tile as 4 x 4 mma tiles of 16 x 8 (64 float accumulators per thread). With the word
//     layout above, the fragments of both instruction shapes read the same words: for lane
//     (g = lane / 4, t = lane % 4) and a k step of 8 words starting at word w0,
//       A: rows g and g + 8 of the 16-row tile, words w0 + t and w0 + t + 4;
//       B: row (column of op(B)) g of the 8-column tile, words w0 + t and w0 + t + 4;
//     which is the PTX ISA's layout for m16n8k8 .tf32 (one element per word) and m16n8k16 .bf16
//     (two consecutive k elements per word, the lower k in the low half).
//   * Epilogue: alpha * acc (+ beta * C unless beta == 0), scalar stores with bounds checks (lane
//     (g, t) holds rows g, g + 8 and columns 2t, 2t + 1 of each 16 x 8 tile).
//
// Launch shape: grid (ceil(n / 128), ceil(m / 128), batch), y and z split over several launches
// beyond 65535; 256 threads; 40 KiB of static shared memory; the caller's stream, no wait.
// ptxas for sm_90 (nvcc 13.0): 169-222 registers per thread, no spills, so one block per SM.
//
// Not here yet (issue 8): cp.async / TMA multi-stage pipelines, ldmatrix, wgmma on sm_90a (this
// kernel's SASS on Hopper shows HMMA, not HGMMA), bf16 storage (the tensors are float32 here).
#include <cuda_runtime.h>

#include <tensorforge/cuda_api.h>

#include "check.cuh"
#include "device_props.cuh"
#include "gemm_grid.cuh"
#include "launch.cuh"
#include "mma_sync.cuh"
#include "tensor_core_rounding.cuh"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tf::cuda {
namespace {
namespace tensor_core {

constexpr int kBM = 128, kBN = 128;   // C tile of a block
constexpr int kWordsPerRow = 16;      // 32-bit words of k per shared-memory row (one k tile)
constexpr int kRowStride = 20;        // padded row, in words
constexpr int kThreads = 256;         // 8 warps
constexpr int kWordsPerThread = kBM * kWordsPerRow / kThreads;  // 8, same for B (kBN == kBM)
constexpr int kWarpRows = 64, kWarpCols = 32;                   // warp tile
constexpr int kMmaTilesM = kWarpRows / 16, kMmaTilesN = kWarpCols / 8;

using tensor_core_rounding::round_to_bf16;
using tensor_core_rounding::round_to_tf32;

struct Tf32 {
    static constexpr int kElemsPerWord = 1;
    __device__ __forceinline__ static uint32_t pack(const float (&x)[1]) { return round_to_tf32(x[0]); }
    __device__ __forceinline__ static void mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
        mma_m16n8k8_tf32(d, a, b);
    }
};

struct Bf16 {
    static constexpr int kElemsPerWord = 2;
    __device__ __forceinline__ static uint32_t pack(const float (&x)[2]) {
        return round_to_bf16(x[0]) | (round_to_bf16(x[1]) << 16);
    }
    __device__ __forceinline__ static void mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
        mma_m16n8k16_bf16(d, a, b);
    }
};

// One operand tile of a k step: `rows` x k of a matrix whose element (r, kk) is at
// src[r * ld + kk] when K_CONTIGUOUS, else src[kk * ld + r]. Word `i` of this thread is tile row
// r and word column kw, walking the contiguous dimension fastest across threads (coalesced).
template <bool K_CONTIGUOUS>
__device__ __forceinline__ void word_position(int i, int& r, int& kw) {
    const int w = static_cast<int>(threadIdx.x) + i * kThreads;
    if (K_CONTIGUOUS) {
        r = w / kWordsPerRow;
        kw = w % kWordsPerRow;
    } else {
        r = w % kBM;
        kw = w / kBM;
    }
}

template <class Op, bool K_CONTIGUOUS>
__device__ __forceinline__ void load_tile(const float* __restrict__ src, int64_t ld, int64_t rows, int64_t kdim,
                                          int64_t r0, int64_t k0,
                                          float (&stage)[kWordsPerThread][Op::kElemsPerWord]) {
#pragma unroll
    for (int i = 0; i < kWordsPerThread; ++i) {
        int r, kw;
        word_position<K_CONTIGUOUS>(i, r, kw);
        const int64_t gr = r0 + r;
#pragma unroll
        for (int e = 0; e < Op::kElemsPerWord; ++e) {
            const int64_t gk = k0 + kw * Op::kElemsPerWord + e;
            float v = 0.f;
            if (gr < rows && gk < kdim) v = K_CONTIGUOUS ? src[gr * ld + gk] : src[gk * ld + gr];
            stage[i][e] = v;
        }
    }
}

template <class Op, bool K_CONTIGUOUS>
__device__ __forceinline__ void store_tile(uint32_t (*tile)[kRowStride],
                                           const float (&stage)[kWordsPerThread][Op::kElemsPerWord]) {
#pragma unroll
    for (int i = 0; i < kWordsPerThread; ++i) {
        int r, kw;
        word_position<K_CONTIGUOUS>(i, r, kw);
        tile[r][kw] = Op::pack(stage[i]);
    }
}

template <class Op, bool TA, bool TB>
__global__ void __launch_bounds__(kThreads)
    gemm_tensor_core_kernel(int64_t m, int64_t n, int64_t k, float alpha, const float* __restrict__ a, int64_t lda,
                            int64_t stride_a, const float* __restrict__ b, int64_t ldb, int64_t stride_b, float beta,
                            float* __restrict__ c, int64_t ldc, int64_t stride_c) {
    __shared__ __align__(16) uint32_t smem_a[2][kBM][kRowStride];
    __shared__ __align__(16) uint32_t smem_b[2][kBN][kRowStride];
    constexpr int kTileK = kWordsPerRow * Op::kElemsPerWord;  // elements of k per tile

    const int lane = static_cast<int>(threadIdx.x) % 32, warp = static_cast<int>(threadIdx.x) / 32;
    const int g = lane / 4, t = lane % 4;
    const int warp_row = (warp / 4) * kWarpRows, warp_col = (warp % 4) * kWarpCols;
    const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kBM, col0 = static_cast<int64_t>(blockIdx.x) * kBN;
    a += static_cast<int64_t>(blockIdx.z) * stride_a;
    b += static_cast<int64_t>(blockIdx.z) * stride_b;
    c += static_cast<int64_t>(blockIdx.z) * stride_c;

    // op(A) row r, k kk: A[r][kk] (k contiguous) or A[kk][r] (TA). op(B) column j, k kk: B[kk][j]
    // (j contiguous) or B[j][kk] (TB, k contiguous). Both tiles are stored k-major per row.
    float stage_a[kWordsPerThread][Op::kElemsPerWord], stage_b[kWordsPerThread][Op::kElemsPerWord];
    float acc[kMmaTilesM][kMmaTilesN][4];
#pragma unroll
    for (int mi = 0; mi < kMmaTilesM; ++mi)
#pragma unroll
        for (int ni = 0; ni < kMmaTilesN; ++ni)
#pragma unroll
            for (int q = 0; q < 4; ++q) acc[mi][ni][q] = 0.f;

    const int64_t ktiles = (k + kTileK - 1) / kTileK;
    if (ktiles > 0) {
        load_tile<Op, !TA>(a, lda, m, k, row0, 0, stage_a);
        load_tile<Op, TB>(b, ldb, n, k, col0, 0, stage_b);
        store_tile<Op, !TA>(smem_a[0], stage_a);
        store_tile<Op, TB>(smem_b[0], stage_b);
    }
    __syncthreads();

    for (int64_t kt = 0; kt < ktiles; ++kt) {
        const int cur = static_cast<int>(kt & 1);
        const bool has_next = kt + 1 < ktiles;
        if (has_next) {
            load_tile<Op, !TA>(a, lda, m, k, row0, (kt + 1) * kTileK, stage_a);
            load_tile<Op, TB>(b, ldb, n, k, col0, (kt + 1) * kTileK, stage_b);
        }
#pragma unroll
        for (int w0 = 0; w0 < kWordsPerRow; w0 += 8) {
            uint32_t af[kMmaTilesM][4], bf[kMmaTilesN][2];
#pragma unroll
            for (int mi = 0; mi < kMmaTilesM; ++mi) {
                const int r = warp_row + mi * 16 + g;
                af[mi][0] = smem_a[cur][r][w0 + t];
                af[mi][1] = smem_a[cur][r + 8][w0 + t];
                af[mi][2] = smem_a[cur][r][w0 + t + 4];
                af[mi][3] = smem_a[cur][r + 8][w0 + t + 4];
            }
#pragma unroll
            for (int ni = 0; ni < kMmaTilesN; ++ni) {
                const int col = warp_col + ni * 8 + g;
                bf[ni][0] = smem_b[cur][col][w0 + t];
                bf[ni][1] = smem_b[cur][col][w0 + t + 4];
            }
#pragma unroll
            for (int mi = 0; mi < kMmaTilesM; ++mi)
#pragma unroll
                for (int ni = 0; ni < kMmaTilesN; ++ni) Op::mma(acc[mi][ni], af[mi], bf[ni]);
        }
        if (has_next) {
            store_tile<Op, !TA>(smem_a[cur ^ 1], stage_a);
            store_tile<Op, TB>(smem_b[cur ^ 1], stage_b);
        }
        __syncthreads();
    }

#pragma unroll
    for (int mi = 0; mi < kMmaTilesM; ++mi)
#pragma unroll
        for (int ni = 0; ni < kMmaTilesN; ++ni)
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                const int64_t r = row0 + warp_row + mi * 16 + g + (q / 2) * 8;
                const int64_t col = col0 + warp_col + ni * 8 + 2 * t + (q % 2);
                if (r < m && col < n) {
                    float v = alpha * acc[mi][ni][q];
                    if (beta != 0.f) v += beta * c[r * ldc + col];
                    c[r * ldc + col] = v;
                }
            }
}

template <class Op, bool TA, bool TB>
void launch(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c,
            const GemmBatch& batch, cudaStream_t stream) {
    gemm_grid::for_each_chunk(s, a, b, c, batch, kBM, kBN, [&](const gemm_grid::Chunk& ch) {
        auto* kernel = &gemm_tensor_core_kernel<Op, TA, TB>;
        TF_LAUNCH(kernel, ch.grid, kThreads, stream, ch.rows, s.n, s.k, alpha, ch.a, s.lda, batch.stride_a, ch.b,
                  s.ldb, batch.stride_b, beta, ch.c, s.ldc, batch.stride_c);
        TF_CUDA_CHECK_LAUNCH("gemm_tensor_core_kernel");
    });
}

template <class Op>
void launch_op(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c,
               const GemmBatch& batch, cudaStream_t stream) {
    if (!s.trans_a && !s.trans_b) launch<Op, false, false>(s, alpha, a, b, beta, c, batch, stream);
    else if (!s.trans_a && s.trans_b) launch<Op, false, true>(s, alpha, a, b, beta, c, batch, stream);
    else if (s.trans_a && !s.trans_b) launch<Op, true, false>(s, alpha, a, b, beta, c, batch, stream);
    else launch<Op, true, true>(s, alpha, a, b, beta, c, batch, stream);
}

}  // namespace tensor_core
}  // namespace

void gemm_tensor_core(const GemmShape& s, float alpha, uintptr_t a, uintptr_t b, float beta, uintptr_t c,
                      const GemmBatch& batch, MatmulPrecision precision, uintptr_t stream) {
    if (s.m < 0 || s.n < 0 || s.k < 0 || batch.count < 0)
        throw std::runtime_error("cuda gemm: negative size (m=" + std::to_string(s.m) + ", n=" + std::to_string(s.n) +
                                 ", k=" + std::to_string(s.k) + ", batch=" + std::to_string(batch.count) + ")");
    if (s.m == 0 || s.n == 0 || batch.count == 0) return;
    require_device();
    const int cc = compute_capability(current_device());
    if (cc < 80)
        throw std::runtime_error("cuda gemm: the tf32/bf16 tensor-core path needs compute capability 8.0 or newer "
                                 "(Ampere, Ada, Hopper); this GPU is " + std::to_string(cc / 10) + "." +
                                 std::to_string(cc % 10) + ": use precision='highest' (the fp32 kernel)");
    const auto* pa = reinterpret_cast<const float*>(a);
    const auto* pb = reinterpret_cast<const float*>(b);
    auto* pc = reinterpret_cast<float*>(c);
    auto st = reinterpret_cast<cudaStream_t>(stream);
    if (precision == MatmulPrecision::tf32) tensor_core::launch_op<tensor_core::Tf32>(s, alpha, pa, pb, beta, pc, batch, st);
    else tensor_core::launch_op<tensor_core::Bf16>(s, alpha, pa, pb, beta, pc, batch, st);
}

}  // namespace tf::cuda
