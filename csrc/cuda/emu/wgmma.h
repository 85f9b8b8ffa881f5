// CPU emulation of the sm_90a pieces that gemm_wgmma.cu uses, on top of the stand-in
// cuda_runtime.h: dynamic shared memory, the async proxy (st.shared + fence.proxy.async) and
// wgmma.mma_async with shared-memory matrix descriptors. Written from the PTX ISA (sections
// "Asynchronous Warpgroup Level Matrix Multiply-Accumulate": the matrix descriptor, the canonical
// K-major layouts, the register fragment of the m64nNk* accumulators, wgmma.fence /
// commit_group / wait_group, and "Memory consistency: proxies"), independently of the kernel, so
// that a kernel that places an element where the ISA does not expect it computes a wrong result.
//
// The model, per CUDA thread (the emulation runs one std::thread per CUDA thread):
//   * Shared memory: each block gets a fresh arena of the launch's dynamic size, filled with 0xff
//     bytes (NaN as floats), so a wgmma that reads a byte nobody wrote poisons the result.
//     __cvta_generic_to_shared() returns arena offset + 0x400 (dynamic shared memory does not
//     start at address 0 on a device either).
//   * Async proxy: wgmma reads shared memory through the async proxy, which here is a second copy
//     of the arena. st_shared_v4 writes the ordinary (generic) copy and remembers the range; only
//     fence_proxy_async_shared() copies the calling thread's remembered ranges into the async
//     copy. A kernel without the fence feeds wgmma the 0xff poison (or a stale tile).
//   * wgmma.mma_async is deferred: the call records the operation in the thread's open group;
//     commit_group closes the group; wait_group(n) executes all but the newest n committed groups,
//     reading the async copy of shared memory and writing the accumulator registers at that
//     moment. A kernel that reads its accumulators, or overwrites a stage, before the wait that
//     covers them sees stale values or feeds new data, as it could on the device.
//   * wgmma.fence: a thread must execute wgmma.fence between its last wait_group (or the start)
//     and its next mma_async (conservative: the ISA asks for it only after other instructions
//     touched the accumulators, which our kernel's waits allow). Violations, groups left pending at
//     thread exit, unknown swizzle modes and out-of-arena addresses are counted in
//     tf_emu::wgmma_errors and printed.
//   * Descriptors: start address bits 0-13, leading-dimension byte offset bits 16-29, stride
//     byte offset bits 32-45 (all in units of 16 bytes), matrix base offset bits 49-51, swizzle
//     bits 62-63. Only swizzle mode 0 (no swizzle, "interleaved") with base offset 0 is
//     implemented; anything else is an error. In that mode a K-major operand is made of core
//     matrices of 8 rows x 16 bytes, each row's 16 bytes contiguous and the 8 rows 16 bytes apart
//     (128 contiguous bytes); LBO is the distance between core matrices adjacent in K, SBO between
//     core matrices adjacent in M (A) or N (B). Element (row, kk) of an operand whose elements are
//     `es` bytes is therefore at
//         start + (row / 8) * SBO + (kk / (16 / es)) * LBO + (row % 8) * 16 + (kk % (16 / es)) * es.
//     A is M x K and B is N x K (K-major, "no transpose"; tf32 supports nothing else).
//   * Arithmetic: tf32 operands lose their low 13 mantissa bits (the tensor cores ignore them),
//     bf16 operands are the high 16 bits of a float; products are summed in double and rounded to
//     float once per instruction (the hardware's float32 accumulation differs in the last bits).
//   * Accumulator fragment of m64nNk*, f32: warp w = (thread % 128) / 32 of the warpgroup owns rows
//     16w .. 16w + 15; lane l (g = l / 4, t = l % 4) holds d[i], i < N / 2, at
//         row 16w + g + 8 * ((i / 2) % 2), column 8 * (i / 4) + 2t + (i % 2).
#pragma once
#include "cuda_runtime.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <utility>
#include <vector>

namespace tf_emu {

inline std::atomic<int> wgmma_errors{0};

inline void wgmma_error(const char* what) {
    ++wgmma_errors;
    std::fprintf(stderr, "wgmma emulation: %s (block %u,%u,%u thread %u)\n", what, blockIdx.x, blockIdx.y, blockIdx.z,
                 threadIdx.x);
}

constexpr uint32_t kSharedWindowBase = 0x400;

struct SharedArena {
    std::vector<unsigned char> generic, async;
};
inline SharedArena shared_arena;  // the running block's (blocks run one after another)

inline unsigned char* dynamic_shared_memory() { return shared_arena.generic.data(); }

struct WgmmaOp {
    uint64_t desc_a, desc_b;
    bool scale_d;
    bool bf16;
    int n;
    float* d;
};

struct ThreadAsyncState {
    std::vector<std::pair<uint32_t, uint32_t>> unfenced;  // (offset, bytes) written, not yet fenced
    std::vector<WgmmaOp> open_group;
    std::deque<std::vector<WgmmaOp>> committed;
    bool fenced = false;
};
inline thread_local ThreadAsyncState async_state;

}  // namespace tf_emu

inline size_t __cvta_generic_to_shared(const void* p) {
    const auto* c = static_cast<const unsigned char*>(p);
    const auto& g = tf_emu::shared_arena.generic;
    if (c < g.data() || c >= g.data() + g.size()) {
        tf_emu::wgmma_error("__cvta_generic_to_shared of a pointer outside the dynamic shared memory");
        return 0;
    }
    return tf_emu::kSharedWindowBase + static_cast<size_t>(c - g.data());
}

namespace tf_emu {

inline size_t arena_offset(uint32_t addr, uint32_t bytes) {
    const size_t size = shared_arena.generic.size();
    if (addr < kSharedWindowBase || addr - kSharedWindowBase + bytes > size) {
        wgmma_error("shared-memory address outside the block's dynamic shared memory");
        return size;  // callers skip the access
    }
    return addr - kSharedWindowBase;
}

// st.shared.v4.b32 [addr], {v0..v3}: an ordinary (generic proxy) store.
inline void st_shared_v4(uint32_t addr, const uint32_t (&v)[4]) {
    if (addr % 16) wgmma_error("st.shared.v4 to an address that is not 16-byte aligned");
    const size_t off = arena_offset(addr, 16);
    if (off == shared_arena.generic.size()) return;
    std::memcpy(shared_arena.generic.data() + off, v, 16);
    async_state.unfenced.push_back({static_cast<uint32_t>(off), 16u});
}

// fence.proxy.async.shared::cta: this thread's earlier generic writes become visible to the async proxy.
inline void fence_proxy_async_shared() {
    for (const auto& r : async_state.unfenced)
        std::memcpy(shared_arena.async.data() + r.first, shared_arena.generic.data() + r.first, r.second);
    async_state.unfenced.clear();
}

inline void wgmma_fence() { async_state.fenced = true; }

template <bool BF16, int N>
inline void wgmma_mma_async(float (&d)[N / 2], uint64_t desc_a, uint64_t desc_b, bool scale_d) {
    static_assert(N % 8 == 0 && N >= 8 && N <= 256, "wgmma n must be a multiple of 8 in [8, 256]");
    if (!async_state.fenced) wgmma_error("wgmma.mma_async without a wgmma.fence since the last wait_group");
    async_state.open_group.push_back(WgmmaOp{desc_a, desc_b, scale_d, BF16, N, d});
}

inline void wgmma_commit_group() {
    async_state.committed.push_back(std::move(async_state.open_group));
    async_state.open_group.clear();
}

// One K-major operand element from the async copy of shared memory, as a float.
inline float descriptor_element(uint64_t desc, int row, int kk, bool bf16) {
    const uint32_t start = static_cast<uint32_t>(desc & 0x3fff) << 4;
    const uint32_t lbo = static_cast<uint32_t>((desc >> 16) & 0x3fff) << 4;
    const uint32_t sbo = static_cast<uint32_t>((desc >> 32) & 0x3fff) << 4;
    const unsigned base_offset = static_cast<unsigned>((desc >> 49) & 0x7), swizzle = static_cast<unsigned>(desc >> 62);
    if (swizzle != 0 || base_offset != 0) {
        wgmma_error("matrix descriptor with a swizzle mode or base offset the emulation does not implement");
        return 0.f;
    }
    const uint32_t es = bf16 ? 2 : 4, per_row = 16 / es;
    const uint32_t addr = start + static_cast<uint32_t>(row / 8) * sbo + static_cast<uint32_t>(kk / per_row) * lbo +
                          static_cast<uint32_t>(row % 8) * 16 + static_cast<uint32_t>(kk % per_row) * es;
    const size_t off = arena_offset(addr, es);
    if (off == shared_arena.async.size()) return 0.f;
    uint32_t bits = 0;
    if (bf16) {
        uint16_t h;
        std::memcpy(&h, shared_arena.async.data() + off, 2);
        bits = static_cast<uint32_t>(h) << 16;
    } else {
        std::memcpy(&bits, shared_arena.async.data() + off, 4);
        bits &= 0xffffe000u;
    }
    return bits_to_float(bits);
}

inline void execute(const WgmmaOp& op) {
    const unsigned tid = threadIdx.x % 128, warp = tid / 32, lane = tid % 32;
    const int g = static_cast<int>(lane / 4), t = static_cast<int>(lane % 4), k = op.bf16 ? 16 : 8;
    for (int i = 0; i < op.n / 2; ++i) {
        const int row = 16 * static_cast<int>(warp) + g + 8 * ((i / 2) % 2);
        const int col = 8 * (i / 4) + 2 * t + i % 2;
        double acc = op.scale_d ? op.d[i] : 0.0;
        for (int kk = 0; kk < k; ++kk)
            acc += double(descriptor_element(op.desc_a, row, kk, op.bf16)) *
                   double(descriptor_element(op.desc_b, col, kk, op.bf16));
        op.d[i] = static_cast<float>(acc);
    }
}

inline void wgmma_wait_group(int pending) {
    while (static_cast<int>(async_state.committed.size()) > pending) {
        for (const WgmmaOp& op : async_state.committed.front()) execute(op);
        async_state.committed.pop_front();
    }
    async_state.fenced = false;
}

// Runs `body` as a kernel launch with `shared_bytes` of dynamic shared memory per block: the
// stand-in cuda_runtime.h's launch, with a fresh poisoned arena per block and the per-thread
// async state reset at entry and checked at exit.
template <class F>
void launch_with_shared_memory(dim3 grid, dim3 block, size_t shared_bytes, F&& body) {
    launch(grid, block, [&] {
        if (threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0) {  // a new block (blocks run one by one)
            shared_arena.generic.assign(shared_bytes, 0xff);
            shared_arena.async.assign(shared_bytes, 0xff);
        }
        __syncthreads();
        async_state = ThreadAsyncState{};
        body();
        if (!async_state.committed.empty() || !async_state.open_group.empty())
            wgmma_error("wgmma groups still pending when the thread exits");
        async_state = ThreadAsyncState{};
    });
}

}  // namespace tf_emu
