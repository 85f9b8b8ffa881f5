// gemm_f32.cu: tiled fp32 SGEMM on CUDA cores (FFMA), the first hand-written CUDA kernel.
//
// NOT YET RUN ON A GPU. It was written and compiled on a machine with nvcc and no GPU; nothing
// here is known to be correct or fast on a device until tests/test_cuda_kernels.py and
// bench/gpu_suite.sh have run on one.
//
// What it computes
//   C = alpha * op(A) * op(B) + beta * C for float32, row-major (numpy's C order), with the
//   semantics of tf::cpu::gemm in csrc/include/tensorforge/gemm.h:
//     op(A) is m x k: A stored m x k with row stride lda, or k x m (trans_a) with row stride lda;
//     op(B) is k x n: B stored k x n with row stride ldb, or n x k (trans_b) with row stride ldb;
//     C is m x n with row stride ldc; beta == 0 means C is write-only (NaN in C is ignored);
//     a strided batch repeats it `count` times with element offsets stride_a/b/c (0 broadcasts).
//   alpha == 0 still reads A and B (no BLAS-style shortcut), so NaN in A or B still shows.
//
// Algorithm (the classic register-blocked SGEMM, as in the CUTLASS SIMT and llm.c-era kernels)
//   * Each thread block owns a BM x BN tile of C and walks k in steps of BK = 8.
//   * Per k step the block stages an op(A) tile (BM x BK) and an op(B) tile (BK x BN) in shared
//     memory, both stored k-major ([BK][BM + 4] and [BK][BN + 4]) so that the inner loop reads
//     16-byte vectors; an A tile that is m-major in memory (no transpose) and a B tile that is
//     n-major in memory (transposed) are transposed on the way into shared memory. The 4-float
//     row padding makes those transposing stores free of bank conflicts.
//   * Global loads are float4 (16 bytes) when every base pointer is 16-byte aligned and every
//     leading dimension and batch stride is a multiple of 4 elements (template flag VEC), else
//     four scalar loads; any element outside the matrix reads as 0, so edges need no slow path.
//   * Double buffering: the next k tile is loaded from global memory into registers while the
//     current one is multiplied out of shared memory, then stored into the other buffer; one
//     __syncthreads per k step.
//   * Register tiling: each thread accumulates an 8 x 8 block of C as two 4-row groups (rows
//     ty*4.. and BM/2 + ty*4..) times two 4-column groups (cols tx*4.. and BN/2 + tx*4..), so
//     the shared-memory reads of a warp are contiguous float4s (broadcast or conflict-free).
//     64 FFMA per 4 LDS.128 per k.
//   * Epilogue: alpha * acc (+ beta * C unless beta == 0), float4 stores where aligned and
//     inside the matrix, else scalar stores with bounds checks.
//
// Layout and launch shape
//   Two tile configurations: 128 x 128 x 8 with 256 threads (16 x 16 threads, 8 x 8 each) for
//   large problems, 64 x 64 x 8 with 64 threads when the large tiles would not give every SM a
//   block. grid = (ceil(n / BN), ceil(m / BM), batch), the y and z extents split over several
//   launches beyond 65535; blockIdx.x walks n so consecutive blocks share the same rows of A
//   in L2. Static shared memory: 2 x 8 x (BM + 4 + BN + 4) floats (16.5 KiB for 128 x 128).
//   The kernel runs on the caller's stream and the function returns without waiting.
//
// Not here yet (issue 8): split-k for skinny shapes, swizzled block order, more than two smem
// stages (cp.async). The tf32 / bf16 tensor-core path is gemm_tensor_core.cu.
#include <cuda_runtime.h>

#include <tensorforge/cuda_api.h>

#include "check.cuh"
#include "device_props.cuh"
#include "gemm_grid.cuh"
#include "launch.cuh"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tf::cuda {
namespace {

constexpr int kTM = 8, kTN = 8;  // C elements per thread: rows x cols
constexpr int kPad = 4;          // floats of padding per shared-memory row (keeps 16-byte alignment)

// Loads the tile rows [r0, r0 + R) x cols [c0, c0 + C) of a row-major matrix `src` (rows x cols,
// row stride ld) into registers as float4 chunks along the columns; chunk i of this thread is
// tile row (tid + i * THREADS) / (C / 4), columns ((tid + i * THREADS) % (C / 4)) * 4 + 0..3.
// Elements outside the matrix read as 0.
template <int R, int C, int THREADS, bool VEC>
__device__ __forceinline__ void load_tile(const float* __restrict__ src, int64_t ld, int64_t rows, int64_t cols,
                                          int64_t r0, int64_t c0, float4 (&v)[R * C / 4 / THREADS]) {
    static_assert(C % 4 == 0 && (R * C) % (4 * THREADS) == 0, "tile does not split into float4 chunks evenly");
    constexpr int kChunksPerRow = C / 4;
#pragma unroll
    for (int i = 0; i < R * C / 4 / THREADS; ++i) {
        const int chunk = static_cast<int>(threadIdx.x) + i * THREADS;
        const int64_t gr = r0 + chunk / kChunksPerRow;
        const int64_t gc = c0 + (chunk % kChunksPerRow) * 4;
        float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
        if (gr < rows) {
            const float* p = src + gr * ld;
            if (VEC && gc + 3 < cols) {
                x = *reinterpret_cast<const float4*>(p + gc);
            } else {
                if (gc + 0 < cols) x.x = p[gc + 0];
                if (gc + 1 < cols) x.y = p[gc + 1];
                if (gc + 2 < cols) x.z = p[gc + 2];
                if (gc + 3 < cols) x.w = p[gc + 3];
            }
        }
        v[i] = x;
    }
}

// Stores the chunks of load_tile into a k-major shared tile S[k][LDS]. TRANSPOSE: the tile's
// columns are k (element (r, c) goes to S[c][r]); otherwise its rows are k (S[r][c..c+3]).
template <int R, int C, int THREADS, bool TRANSPOSE, int LDS>
__device__ __forceinline__ void store_tile(float* __restrict__ S, const float4 (&v)[R * C / 4 / THREADS]) {
    constexpr int kChunksPerRow = C / 4;
#pragma unroll
    for (int i = 0; i < R * C / 4 / THREADS; ++i) {
        const int chunk = static_cast<int>(threadIdx.x) + i * THREADS;
        const int r = chunk / kChunksPerRow;
        const int c = (chunk % kChunksPerRow) * 4;
        if (TRANSPOSE) {
            S[(c + 0) * LDS + r] = v[i].x;
            S[(c + 1) * LDS + r] = v[i].y;
            S[(c + 2) * LDS + r] = v[i].z;
            S[(c + 3) * LDS + r] = v[i].w;
        } else {
            *reinterpret_cast<float4*>(&S[r * LDS + c]) = v[i];
        }
    }
}

template <int BM, int BN>
__host__ __device__ constexpr int threads_for() {
    return (BM / kTM) * (BN / kTN);
}

// One BM x BN tile of C per block; see the header comment. A, B, C already point at this
// launch's first batch entry and first row.
template <int BM, int BN, int BK, bool TA, bool TB, bool VEC>
__global__ void __launch_bounds__(threads_for<BM, BN>())
    sgemm_tiled_kernel(int64_t m, int64_t n, int64_t k, float alpha, const float* __restrict__ A, int64_t lda,
                       int64_t stride_a, const float* __restrict__ B, int64_t ldb, int64_t stride_b, float beta,
                       float* __restrict__ C, int64_t ldc, int64_t stride_c) {
    constexpr int THREADS = threads_for<BM, BN>();
    constexpr int LDA_S = BM + kPad, LDB_S = BN + kPad;
    static_assert(BM % (2 * 4) == 0 && BN % (2 * 4) == 0 && BK % 4 == 0, "bad tile shape");
    static_assert((BM / kTM) * 4 == BM / 2 && (BN / kTN) * 4 == BN / 2, "thread layout assumes 8 x 8 per thread");

    __shared__ __align__(16) float As[2][BK * LDA_S];
    __shared__ __align__(16) float Bs[2][BK * LDB_S];

    const int64_t z = blockIdx.z;
    A += z * stride_a;
    B += z * stride_b;
    C += z * stride_c;
    const int64_t m0 = static_cast<int64_t>(blockIdx.y) * BM;
    const int64_t n0 = static_cast<int64_t>(blockIdx.x) * BN;

    // op(A) tile: memory rows are m (no transpose, transposed into smem) or k (transpose).
    constexpr int A_R = TA ? BK : BM, A_C = TA ? BM : BK;
    // op(B) tile: memory rows are k (no transpose) or n (transpose, transposed into smem).
    constexpr int B_R = TB ? BN : BK, B_C = TB ? BK : BN;
    float4 ra[A_R * A_C / 4 / THREADS];
    float4 rb[B_R * B_C / 4 / THREADS];

    auto load_global = [&](int64_t k0) {
        if (TA) load_tile<A_R, A_C, THREADS, VEC>(A, lda, k, m, k0, m0, ra);
        else load_tile<A_R, A_C, THREADS, VEC>(A, lda, m, k, m0, k0, ra);
        if (TB) load_tile<B_R, B_C, THREADS, VEC>(B, ldb, n, k, n0, k0, rb);
        else load_tile<B_R, B_C, THREADS, VEC>(B, ldb, k, n, k0, n0, rb);
    };
    auto store_shared = [&](int buf) {
        store_tile<A_R, A_C, THREADS, !TA, LDA_S>(As[buf], ra);
        store_tile<B_R, B_C, THREADS, TB, LDB_S>(Bs[buf], rb);
    };

    const int tx = static_cast<int>(threadIdx.x) % (BN / kTN);
    const int ty = static_cast<int>(threadIdx.x) / (BN / kTN);

    float acc[kTM][kTN];
#pragma unroll
    for (int i = 0; i < kTM; ++i)
#pragma unroll
        for (int j = 0; j < kTN; ++j) acc[i][j] = 0.f;

    const int64_t ktiles = (k + BK - 1) / BK;
    if (ktiles > 0) {
        load_global(0);
        store_shared(0);
    }
    __syncthreads();

    for (int64_t kt = 0; kt < ktiles; ++kt) {
        const int cur = static_cast<int>(kt & 1);
        const bool has_next = kt + 1 < ktiles;
        if (has_next) load_global((kt + 1) * BK);  // in flight while we compute

        const float* as = As[cur];
        const float* bs = Bs[cur];
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            const float4 a0 = *reinterpret_cast<const float4*>(as + kk * LDA_S + ty * 4);
            const float4 a1 = *reinterpret_cast<const float4*>(as + kk * LDA_S + ty * 4 + BM / 2);
            const float4 b0 = *reinterpret_cast<const float4*>(bs + kk * LDB_S + tx * 4);
            const float4 b1 = *reinterpret_cast<const float4*>(bs + kk * LDB_S + tx * 4 + BN / 2);
            const float a[kTM] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            const float b[kTN] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
            for (int i = 0; i < kTM; ++i)
#pragma unroll
                for (int j = 0; j < kTN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }

        // The other buffer was last read in step kt - 1, before that step's barrier.
        if (has_next) store_shared(cur ^ 1);
        __syncthreads();
    }

    // Epilogue: rows ty*4 + 0..3 and BM/2 + ty*4 + 0..3, columns tx*4 + 0..3 and BN/2 + tx*4 + 0..3.
#pragma unroll
    for (int i = 0; i < kTM; ++i) {
        const int64_t row = m0 + ty * 4 + (i & 3) + (i >= 4 ? BM / 2 : 0);
        if (row >= m) continue;
        float* crow = C + row * ldc;
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int64_t col = n0 + tx * 4 + h * (BN / 2);
            float r[4];
#pragma unroll
            for (int j = 0; j < 4; ++j) r[j] = alpha * acc[i][h * 4 + j];
            if (VEC && col + 3 < n) {
                float4* p = reinterpret_cast<float4*>(crow + col);
                if (beta != 0.f) {
                    const float4 old = *p;
                    r[0] = fmaf(beta, old.x, r[0]);
                    r[1] = fmaf(beta, old.y, r[1]);
                    r[2] = fmaf(beta, old.z, r[2]);
                    r[3] = fmaf(beta, old.w, r[3]);
                }
                *p = make_float4(r[0], r[1], r[2], r[3]);
            } else {
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    if (col + j < n) crow[col + j] = beta != 0.f ? fmaf(beta, crow[col + j], r[j]) : r[j];
                }
            }
        }
    }
}

template <int BM, int BN, bool TA, bool TB, bool VEC>
void launch_config(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c,
                   const GemmBatch& batch, cudaStream_t stream) {
    constexpr int BK = 8;
    constexpr int THREADS = threads_for<BM, BN>();
    gemm_grid::for_each_chunk(s, a, b, c, batch, BM, BN, [&](const gemm_grid::Chunk& ch) {
        auto* kernel = &sgemm_tiled_kernel<BM, BN, BK, TA, TB, VEC>;
        TF_LAUNCH(kernel, ch.grid, THREADS, stream, ch.rows, s.n, s.k, alpha, ch.a, s.lda, batch.stride_a, ch.b, s.ldb,
                  batch.stride_b, beta, ch.c, s.ldc, batch.stride_c);
        TF_CUDA_CHECK_LAUNCH("sgemm_tiled_kernel");
    });
}

template <bool TA, bool TB, bool VEC>
void launch_trans(bool small_tiles, const GemmShape& s, float alpha, const float* a, const float* b, float beta,
                  float* c, const GemmBatch& batch, cudaStream_t stream) {
    if (small_tiles) launch_config<64, 64, TA, TB, VEC>(s, alpha, a, b, beta, c, batch, stream);
    else launch_config<128, 128, TA, TB, VEC>(s, alpha, a, b, beta, c, batch, stream);
}

template <bool VEC>
void launch_vec(bool small_tiles, const GemmShape& s, float alpha, const float* a, const float* b, float beta,
                float* c, const GemmBatch& batch, cudaStream_t stream) {
    if (!s.trans_a && !s.trans_b) launch_trans<false, false, VEC>(small_tiles, s, alpha, a, b, beta, c, batch, stream);
    else if (!s.trans_a && s.trans_b) launch_trans<false, true, VEC>(small_tiles, s, alpha, a, b, beta, c, batch, stream);
    else if (s.trans_a && !s.trans_b) launch_trans<true, false, VEC>(small_tiles, s, alpha, a, b, beta, c, batch, stream);
    else launch_trans<true, true, VEC>(small_tiles, s, alpha, a, b, beta, c, batch, stream);
}

bool aligned16(uintptr_t p) { return p % 16 == 0; }
bool mult4(int64_t x) { return x % 4 == 0; }

}  // namespace

void gemm(const GemmShape& s, float alpha, uintptr_t a, uintptr_t b, float beta, uintptr_t c, const GemmBatch& batch,
          uintptr_t stream) {
    if (s.m < 0 || s.n < 0 || s.k < 0 || batch.count < 0)
        throw std::runtime_error("cuda gemm: negative size (m=" + std::to_string(s.m) + ", n=" + std::to_string(s.n) +
                                 ", k=" + std::to_string(s.k) + ", batch=" + std::to_string(batch.count) + ")");
    if (s.m == 0 || s.n == 0 || batch.count == 0) return;  // nothing to write
    require_device();
    const bool vec = aligned16(a) && aligned16(b) && aligned16(c) && mult4(s.lda) && mult4(s.ldb) && mult4(s.ldc) &&
                     mult4(batch.stride_a) && mult4(batch.stride_b) && mult4(batch.stride_c);
    // Small tiles when the large ones would leave SMs idle.
    const int64_t big_blocks = ((s.m + 127) / 128) * ((s.n + 127) / 128) * batch.count;
    const bool small_tiles = big_blocks < multiprocessor_count(current_device());
    const auto* pa = reinterpret_cast<const float*>(a);
    const auto* pb = reinterpret_cast<const float*>(b);
    auto* pc = reinterpret_cast<float*>(c);
    auto st = reinterpret_cast<cudaStream_t>(stream);
    if (vec) launch_vec<true>(small_tiles, s, alpha, pa, pb, beta, pc, batch, st);
    else launch_vec<false>(small_tiles, s, alpha, pa, pb, beta, pc, batch, st);
}

}  // namespace tf::cuda
