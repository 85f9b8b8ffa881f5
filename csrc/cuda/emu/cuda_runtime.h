// A CPU stand-in for the parts of <cuda_runtime.h> that our kernels use, for the emulation build
// (TF_CUDA_EMULATE; see ../launch.cuh and emu_kernels.cpp). Never part of the real build: CMake
// compiles csrc/cuda/*.cu with nvcc and the real header; only tests/test_cuda_emulated.py puts
// this folder on g++'s include path.
//
// Each block of a grid runs on the CPU with one std::thread per CUDA thread; blocks run one after
// another, so a `__shared__` variable (a function-local static here) is the block's shared memory,
// and __syncthreads() is a barrier across the block's threads. Built with -fsanitize=address this
// checks the kernels' global-memory bounds; with -fsanitize=thread, their barriers.
#pragma once
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct uint3 {
    unsigned x = 0, y = 0, z = 0;
};
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
    float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

using cudaError_t = int;
constexpr cudaError_t cudaSuccess = 0;
struct CUstream_st;
using cudaStream_t = CUstream_st*;
inline const char* cudaGetErrorName(cudaError_t) { return "cudaErrorEmulated"; }
inline const char* cudaGetErrorString(cudaError_t) { return "emulated error"; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }

namespace tf_emu {

class Barrier {
public:
    explicit Barrier(unsigned n) : n_(n) {}
    void wait() {
        std::unique_lock<std::mutex> lock(mu_);
        const unsigned gen = generation_;
        if (++arrived_ == n_) {
            arrived_ = 0;
            ++generation_;
            cv_.notify_all();
        } else {
            cv_.wait(lock, [&] { return generation_ != gen; });
        }
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    unsigned n_, arrived_ = 0, generation_ = 0;
};

inline thread_local Barrier* current_barrier = nullptr;
inline long launches = 0;

// What the 32 lanes of a warp hand each other in an emulated mma.sync (see mma_sync below).
struct WarpExchange {
    Barrier barrier;
    uint32_t a[32][4];
    uint32_t b[32][2];
    float c[32][4];
    float shuffle[32];
    explicit WarpExchange(unsigned lanes) : barrier(lanes) {}
};
inline thread_local WarpExchange* current_warp = nullptr;
inline thread_local unsigned current_lane = 0;

}  // namespace tf_emu

inline thread_local uint3 threadIdx, blockIdx;
inline thread_local dim3 blockDim, gridDim;

inline void __syncthreads() { tf_emu::current_barrier->wait(); }

// mma.sync.aligned.{m16n8k8 tf32, m16n8k16 bf16}.row.col.f32 for one warp, from the fragment
// tables of the PTX ISA ("Matrix Fragments for mma.m16n8k8 / mma.m16n8k16"), written here
// independently of the kernels that call it: lane l (group g = l / 4, t = l % 4) holds
//   A (16 x K, row): tf32 a0:(g, t) a1:(g+8, t) a2:(g, t+4) a3:(g+8, t+4);
//                    bf16 a0..a7 in 4 words, element i at row g + 8*((i/2)%2), col 2t + i%2 + 8*(i/4);
//   B (K x 8, col):  tf32 b0:(t, g) b1:(t+4, g);  bf16 b0..b3 in 2 words, row 2t + i%2 + 8*(i/2), col g;
//   C, D (16 x 8):   c0:(g, 2t) c1:(g, 2t+1) c2:(g+8, 2t) c3:(g+8, 2t+1).
// Every lane publishes its fragments, waits for the warp, computes its four outputs in double
// and waits again before the exchange can be reused. tf32 operands lose their low 13 bits, as
// the tensor cores ignore them.
namespace tf_emu {

inline float bits_to_float(uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

template <int K>
inline void mma_sync(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    WarpExchange& w = *current_warp;
    const unsigned lane = current_lane;
    for (int i = 0; i < 4; ++i) w.a[lane][i] = a[i];
    for (int i = 0; i < 2; ++i) w.b[lane][i] = b[i];
    for (int i = 0; i < 4; ++i) w.c[lane][i] = d[i];
    w.barrier.wait();
    auto a_at = [&](int row, int kk) {
        if (K == 8) return bits_to_float(w.a[(row % 8) * 4 + kk % 4][(row / 8) + 2 * (kk / 4)] & 0xffffe000u);
        const uint32_t word = w.a[(row % 8) * 4 + (kk % 8) / 2][(row / 8) + 2 * (kk / 8)];
        return bits_to_float(((word >> (16 * (kk % 2))) & 0xffffu) << 16);
    };
    auto b_at = [&](int kk, int col) {
        if (K == 8) return bits_to_float(w.b[col * 4 + kk % 4][kk / 4] & 0xffffe000u);
        const uint32_t word = w.b[col * 4 + (kk % 8) / 2][kk / 8];
        return bits_to_float(((word >> (16 * (kk % 2))) & 0xffffu) << 16);
    };
    const int g = static_cast<int>(lane / 4), t = static_cast<int>(lane % 4);
    float out[4];
    for (int i = 0; i < 4; ++i) {
        const int row = g + 8 * (i / 2), col = 2 * t + i % 2;
        double acc = w.c[lane][i];
        for (int kk = 0; kk < K; ++kk) acc += double(a_at(row, kk)) * double(b_at(kk, col));
        out[i] = static_cast<float>(acc);
    }
    w.barrier.wait();
    for (int i = 0; i < 4; ++i) d[i] = out[i];
}

// __shfl_xor_sync over the whole warp (every lane must call it, as on the GPU with a full mask).
inline float shfl_xor(float v, int lane_mask) {
    WarpExchange& w = *current_warp;
    w.shuffle[current_lane] = v;
    w.barrier.wait();
    const float r = w.shuffle[current_lane ^ static_cast<unsigned>(lane_mask)];
    w.barrier.wait();
    return r;
}

inline void mma_sync_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) { mma_sync<8>(d, a, b); }
inline void mma_sync_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    mma_sync<16>(d, a, b);
}

}  // namespace tf_emu

inline float __shfl_xor_sync(unsigned, float v, int lane_mask) { return tf_emu::shfl_xor(v, lane_mask); }
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }

// Cache-hinted global loads and stores: plain accesses on the CPU.
template <class T>
inline T __ldcg(const T* p) { return *p; }
template <class T>
inline T __ldcs(const T* p) { return *p; }
template <class T>
inline void __stcg(T* p, T v) { *p = v; }

// Atomics (compare-and-swap on the CPU, visible to TSan) and the memset the launchers use.
inline float atomicAdd(float* p, float v) {
    float old, want;
    __atomic_load(p, &old, __ATOMIC_RELAXED);
    do {
        want = old + v;
    } while (!__atomic_compare_exchange(p, &old, &want, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    return old;
}
inline unsigned long long atomicMin(unsigned long long* p, unsigned long long v) {
    unsigned long long old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (v < old && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
    return old;
}
inline cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t = nullptr) {
    std::memset(p, value, bytes);
    return cudaSuccess;
}

namespace tf_emu {

template <class F>
void launch(dim3 grid, dim3 block, F&& body) {
    ++launches;
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || block.x * block.y * block.z == 0 ||
        block.x * block.y * block.z > 1024 || grid.y > 65535 || grid.z > 65535) {
        std::fprintf(stderr, "emulated launch with an invalid configuration: grid (%u, %u, %u), block (%u, %u, %u)\n",
                     grid.x, grid.y, grid.z, block.x, block.y, block.z);
        std::abort();
    }
    const unsigned nthreads = block.x * block.y * block.z;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                Barrier bar(nthreads);
                std::vector<std::unique_ptr<WarpExchange>> warps;
                for (unsigned w0 = 0; w0 < nthreads; w0 += 32)
                    warps.push_back(std::make_unique<WarpExchange>(std::min(32u, nthreads - w0)));
                std::vector<std::thread> threads;
                threads.reserve(nthreads);
                for (unsigned t = 0; t < nthreads; ++t)
                    threads.emplace_back([&, t] {
                        threadIdx = uint3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
                        blockIdx = uint3{bx, by, bz};
                        blockDim = block;
                        gridDim = grid;
                        current_barrier = &bar;
                        current_warp = warps[t / 32].get();
                        current_lane = t % 32;
                        body();
                    });
                for (auto& th : threads) th.join();
            }
}

}  // namespace tf_emu
