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

}  // namespace tf_emu

inline thread_local uint3 threadIdx, blockIdx;
inline thread_local dim3 blockDim, gridDim;

inline void __syncthreads() { tf_emu::current_barrier->wait(); }

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
                std::vector<std::thread> threads;
                threads.reserve(nthreads);
                for (unsigned t = 0; t < nthreads; ++t)
                    threads.emplace_back([&, t] {
                        threadIdx = uint3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
                        blockIdx = uint3{bx, by, bz};
                        blockDim = block;
                        gridDim = grid;
                        current_barrier = &bar;
                        body();
                    });
                for (auto& th : threads) th.join();
            }
}

}  // namespace tf_emu
