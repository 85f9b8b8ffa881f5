// gemm_wgmma.cu: float32 GEMM on Hopper's warpgroup tensor-core instruction (wgmma, sm_90a), with
// tf32 or bf16 multiplies.
//
// NOT YET RUN ON A GPU. Written and compiled (nvcc 13.0, sm_90a: its SASS shows HGMMA) on machines
// without one; its indexing, shared-memory layout, descriptors, proxy fences and wgmma
// synchronisation are checked by the CPU emulation (emu/wgmma.h, tests/test_cuda_emulated_wgmma.py),
// where wgmma is emulated from the PTX ISA. Nothing about it is known on a device until
// tests/test_cuda_kernels.py and bench/gpu_suite.sh have run on an H100.
//
// What it computes
//   Exactly what gemm_tensor_core.cu computes: C = alpha * op(A) * op(B) + beta * C on row-major
//   float32 storage (transpose flags, leading dimensions, beta == 0 means C is write-only, strided
//   batch with stride 0 broadcasting), A and B rounded to tf32 (round to nearest, ties away, as
//   cvt.rna.tf32.f32) or to bfloat16 (round to nearest even), float32 accumulation:
//     tf32 ("high"):   wgmma.mma_async.m64n128k8.f32.tf32.tf32,
//     bf16 ("medium"): wgmma.mma_async.m64n128k16.f32.bf16.bf16,
//   both operands read from shared memory through matrix descriptors. The device code exists only
//   in the sm_90a pass (__CUDA_ARCH_FEAT_SM90_ALL); every other pass compiles a stub that traps.
//   wgmma_available() says whether the current device (compute capability 9.0) runs this file's
//   sm_90a image (a one-off probe kernel, cached per device); the binding uses gemm_wgmma then and
//   gemm_tensor_core (mma.sync) everywhere else.
//
// Algorithm
//   * A block of 256 threads (2 warpgroups of 4 warps) owns a 128 x 128 tile of C; warpgroup w
//     computes rows 64w .. 64w + 63 and all 128 columns as one m64n128 accumulator (64 floats per
//     thread). k advances in tiles of 128 bytes per row (32 tf32 / 64 bf16 elements), 4 wgmmas of
//     32 bytes of k each (k8 tf32, k16 bf16) per tile and warpgroup.
//   * Staging, as in gemm_tensor_core.cu, through registers (the operands are converted on the way,
//     and either layout of A and B in memory is accepted): global loads (anything outside the
//     matrices reads as 0, so edges need no slow path), round / pack pairs of bfloat16, then
//     st.shared.v4 into the descriptor layout below. Ordinary stores belong to the generic proxy
//     and wgmma reads through the async proxy, so every writing thread executes
//     fence.proxy.async.shared::cta after its stores and before the __syncthreads that precedes
//     the wgmmas reading them.
//   * Three shared-memory stages, one __syncthreads per k tile. Tile 0 is staged and its group
//     issued (wgmma.fence; 4 wgmmas; wgmma.commit_group) before the loop; iteration kt then
//       loads k tile kt + 1 into registers (while tile kt's wgmmas run), stores it into stage
//       (kt + 1) % 3 and fences (that stage was last read by tile kt - 2's group, retired by the
//       previous iteration's wait before its barrier); wgmma.wait_group 1 (retires tile kt - 1's
//       group); __syncthreads; issues tile kt + 1's group.
//     At most two groups are in flight, so the tensor cores always have the next tile queued while
//     the threads stage the one after. (Issuing tile 0 outside the loop keeps the zeroing of the
//     accumulators out of the loop's pipeline: otherwise ptxas serialises the wgmmas, C7515.)
//   * Epilogue: wgmma.wait_group 0, then alpha * acc (+ beta * C unless beta == 0), scalar stores
//     with bounds checks. Accumulator i of thread (warp w of its warpgroup, lane g * 4 + t) is row
//     16w + g + 8 * ((i / 2) % 2), column 8 * (i / 4) + 2t + i % 2 (the ISA's m64nNk* f32 layout).
//
// Shared-memory layout: each stage holds the A tile then the B tile, 16 KiB each, both K-major
//   (A: 128 rows of m, B: 128 rows of n, 128 bytes of k per row; words hold one tf32 or two
//   bfloat16, the lower k in the low half), without swizzle (descriptor mode 0, "interleaved"):
//   core matrices of 8 rows x 16 bytes, the 16-byte chunk c of row r at
//       (r / 8) * 1024 + c * 128 + (r % 8) * 16,
//   so the descriptors carry LBO = 128 (next core matrix along k) and SBO = 1024 (next 8 rows);
//   wgmma step s of warpgroup w starts at A tile + 8192 w + 256 s and B tile + 256 s.
//   Why no swizzle: its layout is defined by the descriptor's two offsets alone, so the emulator
//   reproduces it exactly from the ISA's formula, with no dependence on the swizzle atoms'
//   address-bit patterns or their alignment and base-offset rules; and it keeps the staging
//   stores free of bank conflicts (each 8-lane phase of a warp's 16-byte stores fills one
//   128-byte core matrix). Its cost, if any, is in wgmma's own shared-memory reads: unmeasured.
//   Staging map, 4 quads (16 bytes of k of one row) per thread and operand: when k is contiguous
//   in memory a warp covers 8 rows x 4 chunks (quad q: row q % 8 + 8 (q / 64), chunk (q / 8) % 8),
//   64 contiguous bytes per row; otherwise 32 consecutive rows of one chunk (row q % 128, chunk
//   q / 128), 128 contiguous bytes per k.
//
// Launch shape: grid (ceil(n / 128), ceil(m / 128), batch), y and z split over several launches
// beyond 65535 (gemm_grid.cuh); 256 threads; 96 KiB of dynamic shared memory (the limit raised
// with cudaFuncSetAttribute); the caller's stream, no wait. ptxas (nvcc 13.0, sm_90a): 128-214
// registers per thread depending on the instantiation, no spills, no wgmma serialisation (C7515);
// SASS: HGMMA.64x128x8.F32.TF32 / HGMMA.64x128x16.F32.BF16, WARPGROUP.ARRIVE / DEPBAR.LE,
// FENCE.VIEW.ASYNC.S, STS.128.
//
// Expected limit (an estimate, unmeasured): the operands travel as float32 through L2 and the
// registers, 1 KiB per unit of k for a 128 x 128 tile, so at the tensor cores' peak rate the SMs
// would need about 15 TB/s (tf32) or 30 TB/s (bf16) from L2, several times what Hopper's L2
// delivers: this kernel is likely L2-bound well below cuBLAS fed with tf32 / bf16 storage. Not
// here yet: converting A and B to tf32 / bf16 once (O(n^2)) and feeding the wgmmas with TMA
// (cp.async.bulk.tensor, mbarriers, a producer warp), larger tiles or clusters with multicast,
// 128-byte swizzle.
#include <cuda_runtime.h>

#include <tensorforge/cuda_api.h>

#include "check.cuh"
#include "device_props.cuh"
#include "gemm_grid.cuh"
#include "tensor_core_rounding.cuh"

#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

// The kernel's body exists in the sm_90a device pass and in the CPU emulation only.
#if defined(TF_CUDA_EMULATE) || defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define TF_WGMMA_KERNEL_BODY 1
#endif

// The 64 accumulator operands of an m64n128 f32 wgmma.
#define TF_WGMMA_REGS64                                                                 \
    "{"                                                                                 \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "            \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "  \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "  \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
#define TF_WGMMA_D8(i)                                                                                    \
    "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
        "+f"(d[i + 6]), "+f"(d[i + 7])
#define TF_WGMMA_D64                                                                                  \
    TF_WGMMA_D8(0), TF_WGMMA_D8(8), TF_WGMMA_D8(16), TF_WGMMA_D8(24), TF_WGMMA_D8(32), TF_WGMMA_D8(40), \
        TF_WGMMA_D8(48), TF_WGMMA_D8(56)

namespace tf::cuda {
namespace {
namespace wgmma {

constexpr int kBM = 128, kBN = 128;                         // C tile of a block
constexpr int kThreads = 256;                               // 2 warpgroups
constexpr int kRowBytes = 128;                              // bytes of k per tile row
constexpr int kTileBytes = kBM * kRowBytes;                 // one operand tile (kBN == kBM)
constexpr int kStageBytes = 2 * kTileBytes;
constexpr int kStages = 3;
constexpr int kSharedBytes = kStages * kStageBytes;         // 96 KiB

struct Tf32;  // the two input roundings / instruction shapes, defined with the kernel's body below
struct Bf16;

#if defined(TF_WGMMA_KERNEL_BODY)

using tensor_core_rounding::round_to_bf16;
using tensor_core_rounding::round_to_tf32;

constexpr int kChunks = kRowBytes / 16;                     // 16-byte chunks (core-matrix rows) per row
constexpr int kLBO = 128;                                   // core matrices adjacent in k
constexpr int kSBO = kChunks * 128;                         // core matrices adjacent in m / n
constexpr int kStepBytes = 32;                              // bytes of k per wgmma
constexpr int kQuadsPerThread = kBM * kChunks / kThreads;   // 4 per operand
constexpr int kAcc = kBN / 2;                               // accumulators per thread

struct Tf32 {
    static constexpr int kElemsPerWord = 1;
    __device__ __forceinline__ static uint32_t pack(const float* x) { return round_to_tf32(x[0]); }
    __device__ __forceinline__ static void mma(float (&d)[kAcc], uint64_t desc_a, uint64_t desc_b) {
#if defined(TF_CUDA_EMULATE)
        tf_emu::wgmma_mma_async<false, kBN>(d, desc_a, desc_b, true);
#else
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n128k8.f32.tf32.tf32 " TF_WGMMA_REGS64 ", %64, %65, p, 1, 1;\n}\n"
            : TF_WGMMA_D64
            : "l"(desc_a), "l"(desc_b), "r"(1));
#endif
    }
};

struct Bf16 {
    static constexpr int kElemsPerWord = 2;
    __device__ __forceinline__ static uint32_t pack(const float* x) {
        return round_to_bf16(x[0]) | (round_to_bf16(x[1]) << 16);
    }
    __device__ __forceinline__ static void mma(float (&d)[kAcc], uint64_t desc_a, uint64_t desc_b) {
#if defined(TF_CUDA_EMULATE)
        tf_emu::wgmma_mma_async<true, kBN>(d, desc_a, desc_b, true);
#else
        asm volatile(
            "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " TF_WGMMA_REGS64 ", %64, %65, p, 1, 1, 0, 0;\n}\n"
            : TF_WGMMA_D64
            : "l"(desc_a), "l"(desc_b), "r"(1));
#endif
    }
};

// A shared-memory matrix descriptor: start address, LBO, SBO (each in 16-byte units), no swizzle,
// base offset 0.
__device__ __forceinline__ uint64_t descriptor(uint32_t shared_addr) {
    return static_cast<uint64_t>((shared_addr & 0x3ffffu) >> 4) | (static_cast<uint64_t>(kLBO >> 4) << 16) |
           (static_cast<uint64_t>(kSBO >> 4) << 32);
}

__device__ __forceinline__ void store_shared_v4(uint32_t addr, const uint32_t (&v)[4]) {
#if defined(TF_CUDA_EMULATE)
    tf_emu::st_shared_v4(addr, v);
#else
    asm volatile("st.shared.v4.b32 [%0], {%1, %2, %3, %4};\n" ::"r"(addr), "r"(v[0]), "r"(v[1]), "r"(v[2]),
                 "r"(v[3])
                 : "memory");
#endif
}

// Makes this thread's ordinary shared-memory writes visible to wgmma (the async proxy).
__device__ __forceinline__ void fence_proxy_async() {
#if defined(TF_CUDA_EMULATE)
    tf_emu::fence_proxy_async_shared();
#else
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void wgmma_fence() {
#if defined(TF_CUDA_EMULATE)
    tf_emu::wgmma_fence();
#else
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void wgmma_commit_group() {
#if defined(TF_CUDA_EMULATE)
    tf_emu::wgmma_commit_group();
#else
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}

template <int PENDING>
__device__ __forceinline__ void wgmma_wait_group() {
#if defined(TF_CUDA_EMULATE)
    tf_emu::wgmma_wait_group(PENDING);
#else
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(PENDING) : "memory");
#endif
}

// Keeps the compiler from moving other instructions' accesses of the accumulators across the
// wgmma fences and waits (the registers are written asynchronously in between).
__device__ __forceinline__ void pin_accumulators(float (&d)[kAcc]) {
#if !defined(TF_CUDA_EMULATE)
#pragma unroll
    for (int i = 0; i < kAcc; ++i) asm volatile("" : "+f"(d[i])::"memory");
#else
    (void)d;
#endif
}

// Tile row r and 16-byte chunk of this thread's quad i (see the staging map in the header).
template <bool K_CONTIGUOUS>
__device__ __forceinline__ void quad_position(int i, int& r, int& chunk) {
    const int q = static_cast<int>(threadIdx.x) + i * kThreads;
    if (K_CONTIGUOUS) {
        r = q % 8 + 8 * (q / (8 * kChunks));
        chunk = (q / 8) % kChunks;
    } else {
        r = q % kBM;
        chunk = q / kBM;
    }
}

// This thread's quads of one operand tile: rows r0 .. r0 + 127 and k k0 .. of a matrix whose
// element (r, kk) is src[r * ld + kk] when K_CONTIGUOUS, else src[kk * ld + r].
template <class Op, bool K_CONTIGUOUS>
__device__ __forceinline__ void load_tile(const float* __restrict__ src, int64_t ld, int64_t rows, int64_t kdim,
                                          int64_t r0, int64_t k0,
                                          float (&stage)[kQuadsPerThread][4 * Op::kElemsPerWord]) {
    constexpr int kElems = 4 * Op::kElemsPerWord;  // elements of k per quad
#pragma unroll
    for (int i = 0; i < kQuadsPerThread; ++i) {
        int r, chunk;
        quad_position<K_CONTIGUOUS>(i, r, chunk);
        const int64_t gr = r0 + r;
#pragma unroll
        for (int e = 0; e < kElems; ++e) {
            const int64_t gk = k0 + chunk * kElems + e;
            float v = 0.f;
            if (gr < rows && gk < kdim) v = K_CONTIGUOUS ? src[gr * ld + gk] : src[gk * ld + gr];
            stage[i][e] = v;
        }
    }
}

template <class Op, bool K_CONTIGUOUS>
__device__ __forceinline__ void store_tile(uint32_t tile,
                                           const float (&stage)[kQuadsPerThread][4 * Op::kElemsPerWord]) {
#pragma unroll
    for (int i = 0; i < kQuadsPerThread; ++i) {
        int r, chunk;
        quad_position<K_CONTIGUOUS>(i, r, chunk);
        uint32_t words[4];
#pragma unroll
        for (int w = 0; w < 4; ++w) words[w] = Op::pack(&stage[i][w * Op::kElemsPerWord]);
        store_shared_v4(tile + (r / 8) * kSBO + chunk * kLBO + (r % 8) * 16, words);
    }
}

#endif  // TF_WGMMA_KERNEL_BODY

template <class Op, bool TA, bool TB>
__global__ void __launch_bounds__(kThreads)
    gemm_wgmma_kernel(int64_t m, int64_t n, int64_t k, float alpha, const float* __restrict__ a, int64_t lda,
                      int64_t stride_a, const float* __restrict__ b, int64_t ldb, int64_t stride_b, float beta,
                      float* __restrict__ c, int64_t ldc, int64_t stride_c) {
#if defined(TF_WGMMA_KERNEL_BODY)
#if defined(TF_CUDA_EMULATE)
    unsigned char* smem = tf_emu::dynamic_shared_memory();
#else
    extern __shared__ __align__(128) unsigned char smem[];
#endif
    const uint32_t smem_base = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
    constexpr int kTileK = kRowBytes / 4 * Op::kElemsPerWord;  // elements of k per tile
    constexpr int kElems = 4 * Op::kElemsPerWord;
    const int warpgroup = static_cast<int>(threadIdx.x) / 128;
    const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kBM, col0 = static_cast<int64_t>(blockIdx.x) * kBN;
    a += static_cast<int64_t>(blockIdx.z) * stride_a;
    b += static_cast<int64_t>(blockIdx.z) * stride_b;
    c += static_cast<int64_t>(blockIdx.z) * stride_c;

    // op(A) row r, k kk: A[r][kk] (k contiguous) or A[kk][r] (TA). op(B) column j, k kk: B[kk][j]
    // (j contiguous) or B[j][kk] (TB, k contiguous). Both tiles are stored K-major.
    float stage_a[kQuadsPerThread][kElems], stage_b[kQuadsPerThread][kElems];
    float acc[kAcc];
#pragma unroll
    for (int i = 0; i < kAcc; ++i) acc[i] = 0.f;

    // Issues the 4 wgmmas of the k tile in `stage` as one group.
    auto issue = [&](int64_t stage) {
        const uint32_t tile_a = smem_base + static_cast<uint32_t>(stage) * kStageBytes;
        pin_accumulators(acc);
        wgmma_fence();
#pragma unroll
        for (int s = 0; s < kRowBytes / kStepBytes; ++s)
            Op::mma(acc, descriptor(tile_a + warpgroup * (64 / 8) * kSBO + s * (kStepBytes / 16) * kLBO),
                    descriptor(tile_a + kTileBytes + s * (kStepBytes / 16) * kLBO));
        wgmma_commit_group();
    };
    const int64_t ktiles = (k + kTileK - 1) / kTileK;
    if (ktiles > 0) {
        load_tile<Op, !TA>(a, lda, m, k, row0, 0, stage_a);
        load_tile<Op, TB>(b, ldb, n, k, col0, 0, stage_b);
        store_tile<Op, !TA>(smem_base, stage_a);
        store_tile<Op, TB>(smem_base + kTileBytes, stage_b);
        fence_proxy_async();
    }
    __syncthreads();
    if (ktiles > 0) issue(0);
    for (int64_t kt = 0; kt < ktiles; ++kt) {
        // k tile kt's group is in flight; stage (kt + 1) % 3 was last read by tile kt - 2's group,
        // which the previous iteration's wait retired before its barrier.
        if (kt + 1 < ktiles) {
            const uint32_t next = smem_base + static_cast<uint32_t>((kt + 1) % kStages) * kStageBytes;
            load_tile<Op, !TA>(a, lda, m, k, row0, (kt + 1) * kTileK, stage_a);
            load_tile<Op, TB>(b, ldb, n, k, col0, (kt + 1) * kTileK, stage_b);
            store_tile<Op, !TA>(next, stage_a);
            store_tile<Op, TB>(next + kTileBytes, stage_b);
            fence_proxy_async();
        }
        wgmma_wait_group<1>();  // retires tile kt - 1's group: its stage is stored into next iteration
        __syncthreads();
        if (kt + 1 < ktiles) issue((kt + 1) % kStages);
    }
    wgmma_wait_group<0>();
    pin_accumulators(acc);

    const int tid = static_cast<int>(threadIdx.x) % 128, warp = tid / 32, g = (tid % 32) / 4, t = tid % 4;
#pragma unroll
    for (int i = 0; i < kAcc; ++i) {
        const int64_t r = row0 + 64 * warpgroup + 16 * warp + g + 8 * ((i / 2) % 2);
        const int64_t col = col0 + 8 * (i / 4) + 2 * t + i % 2;
        if (r < m && col < n) {
            float v = alpha * acc[i];
            if (beta != 0.f) v += beta * c[r * ldc + col];
            c[r * ldc + col] = v;
        }
    }
#else
    __trap();  // not the sm_90a image: never launched (wgmma_available() probes for that image)
#endif
}

template <class Op, bool TA, bool TB>
void launch(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c,
            const GemmBatch& batch, cudaStream_t stream) {
    auto* kernel = &gemm_wgmma_kernel<Op, TA, TB>;
#if defined(TF_CUDA_EMULATE)
    (void)stream;
#else
    TF_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSharedBytes));
#endif
    gemm_grid::for_each_chunk(s, a, b, c, batch, kBM, kBN, [&](const gemm_grid::Chunk& ch) {
#if defined(TF_CUDA_EMULATE)
        tf_emu::launch_with_shared_memory(ch.grid, dim3(kThreads), kSharedBytes, [&] {
            kernel(ch.rows, s.n, s.k, alpha, ch.a, s.lda, batch.stride_a, ch.b, s.ldb, batch.stride_b, beta, ch.c,
                   s.ldc, batch.stride_c);
        });
#else
        kernel<<<ch.grid, kThreads, kSharedBytes, stream>>>(ch.rows, s.n, s.k, alpha, ch.a, s.lda, batch.stride_a,
                                                            ch.b, s.ldb, batch.stride_b, beta, ch.c, s.ldc,
                                                            batch.stride_c);
#endif
        TF_CUDA_CHECK_LAUNCH("gemm_wgmma_kernel");
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

#if !defined(TF_CUDA_EMULATE)
// Writes 1 when the image the runtime loaded for this file on the current device is the sm_90a one.
__global__ void sm90a_image_probe(int* out) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    *out = 1;
#else
    *out = 0;
#endif
}

bool probe_sm90a_image() {
    int* flag = nullptr;
    TF_CUDA_CHECK(cudaMalloc(&flag, sizeof(int)));
    int host = 0;
    sm90a_image_probe<<<1, 1>>>(flag);
    cudaError_t err = cudaGetLastError();
    if (err == cudaSuccess) err = cudaMemcpy(&host, flag, sizeof(int), cudaMemcpyDeviceToHost);
    cudaFree(flag);
    if (err != cudaSuccess) detail::throw_cuda_error(err, "sm90a_image_probe", __FILE__, __LINE__);
    return host == 1;
}
#endif

}  // namespace wgmma
}  // namespace

#if !defined(TF_CUDA_EMULATE)
bool wgmma_available() {
    if (device_count() == 0) return false;
    const int dev = current_device();
    if (compute_capability(dev) != 90) return false;  // sm_90a code runs on compute capability 9.0 only
    static std::mutex mu;
    static std::vector<std::pair<int, bool>> cache;  // (device, the sm_90a image is loaded)
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& e : cache)
        if (e.first == dev) return e.second;
    const bool loaded = wgmma::probe_sm90a_image();
    cache.push_back({dev, loaded});
    return loaded;
}

std::string tensor_core_path() {
    if (device_count() == 0) return "none (no CUDA device visible)";
    const int cc = compute_capability(current_device());
    if (cc < 80)
        return "none (compute capability " + std::to_string(cc / 10) + "." + std::to_string(cc % 10) +
               "; the tf32/bf16 tensor-core GEMM needs 8.0 or newer)";
    if (wgmma_available()) return "wgmma (sm_90a, gemm_wgmma.cu)";
    if (cc == 90)
        return "mma.sync (gemm_tensor_core.cu; the runtime loaded no sm_90a image of gemm_wgmma.cu: build with "
               "90a-real among the CUDA architectures)";
    return "mma.sync (gemm_tensor_core.cu)";
}
#endif

void gemm_wgmma(const GemmShape& s, float alpha, uintptr_t a, uintptr_t b, float beta, uintptr_t c,
                const GemmBatch& batch, MatmulPrecision precision, uintptr_t stream) {
    if (s.m < 0 || s.n < 0 || s.k < 0 || batch.count < 0)
        throw std::runtime_error("cuda gemm: negative size (m=" + std::to_string(s.m) + ", n=" + std::to_string(s.n) +
                                 ", k=" + std::to_string(s.k) + ", batch=" + std::to_string(batch.count) + ")");
    if (s.m == 0 || s.n == 0 || batch.count == 0) return;
    require_device();
#if !defined(TF_CUDA_EMULATE)
    if (!wgmma_available())
        throw std::runtime_error("cuda gemm: the wgmma kernel needs a compute capability 9.0 GPU and a build with "
                                 "sm_90a code; here the tensor-core path is " + tensor_core_path());
#endif
    const auto* pa = reinterpret_cast<const float*>(a);
    const auto* pb = reinterpret_cast<const float*>(b);
    auto* pc = reinterpret_cast<float*>(c);
    auto st = reinterpret_cast<cudaStream_t>(stream);
    if (precision == MatmulPrecision::tf32) wgmma::launch_op<wgmma::Tf32>(s, alpha, pa, pb, beta, pc, batch, st);
    else wgmma::launch_op<wgmma::Bf16>(s, alpha, pa, pb, beta, pc, batch, st);
}

}  // namespace tf::cuda
