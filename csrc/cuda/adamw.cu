// adamw.cu: fused multi-tensor Adam / AdamW step, one launch for a whole list of tensors.
//
// NOT YET RUN ON A GPU. Written and compiled on a machine with nvcc and no GPU; nothing here is
// known to be correct or fast on a device until tests/test_cuda_kernels.py and
// bench/gpu_suite.sh have run on one.
//
// What it computes (PyTorch's torch.optim.Adam / AdamW, amsgrad=False, maximize=False), per
// element of every tensor in the list, in float32:
//   AdamW: p *= 1 - lr * weight_decay           Adam (weight_decay != 0): g += weight_decay * p
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
// with bc1 = 1 - beta1^step and bc2 = 1 - beta2^step computed on the host (in double) by the
// caller; the kernel gets lr / bc1 and 1 / sqrt(bc2) as float.
//
// Algorithm and layout
//   Memory bound: per element it reads p, g, m, v and writes p, m, v (28 bytes, 7 flops-ish),
//   so the only goals are full-width coalesced accesses and enough bytes in flight.
//   * The tensor list comes as a device table of int64, 5 rows x T: the addresses of param,
//     grad, exp_avg, exp_avg_sq, and the element count of each tensor (all contiguous float32).
//   * Each tensor is cut into chunks of kChunk = 4096 elements. Chunks are numbered across the
//     whole list, and chunk number q goes to block q % gridDim.x (a grid-stride loop over the
//     concatenated list): every block walks the table once, taking the chunks of each tensor
//     that fall to it, so big and small tensors share one balanced launch.
//   * The addresses come from the table, so the compiler cannot tell they are global memory: the
//     loads and stores use __ldcg / __ldcs / __stcg, which are global accesses (ld.global.cg /
//     .cs, st.global.cg: cached in L2 only, the gradient marked evict-first since each element
//     is touched once per step) rather than generic ones.
//   * In a full chunk whose four pointers are 16-byte aligned, each of the 256 threads loads 4
//     float4 of each array (16 independent 16-byte loads in flight) before computing and
//     storing; partial chunks use float4 for the body and scalars for the tail; unaligned
//     tensors use scalars.
//
// Launch shape: grid = min(ceil(total_elements / 4096), 8 * SMs) blocks of 256 threads, no
// shared memory, on the caller's stream; returns without waiting.
//
// Not here yet (issue 8): bf16/fp16 params with fp32 master weights, amsgrad, maximize,
// gradient clipping by global norm folded into the step, capturable (step on device).
#include <cuda_runtime.h>

#include <tensorforge/cuda_api.h>

#include "check.cuh"
#include "device_props.cuh"
#include "launch.cuh"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tf::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;                          // float4 per thread per full chunk
constexpr int kChunk = kThreads * 4 * kUnroll;      // elements per chunk (4096)

struct AdamKernelArgs {
    float beta1, beta2, one_minus_beta1, one_minus_beta2;
    float eps, weight_decay;
    float step_size;     // lr / bc1
    float inv_sqrt_bc2;  // 1 / sqrt(bc2)
    float decay_factor;  // 1 - lr * weight_decay (AdamW)
    int decoupled;       // 1: AdamW, 0: Adam
};

__device__ __forceinline__ void adam_element(float& p, float g, float& m, float& v, const AdamKernelArgs& a) {
    if (a.decoupled) {
        p *= a.decay_factor;
    } else if (a.weight_decay != 0.f) {
        g = fmaf(a.weight_decay, p, g);
    }
    m = fmaf(a.beta1, m, a.one_minus_beta1 * g);
    v = fmaf(a.beta2, v, a.one_minus_beta2 * g * g);
    const float denom = sqrtf(v) * a.inv_sqrt_bc2 + a.eps;
    p -= a.step_size * (m / denom);
}

__device__ __forceinline__ void adam_float4(float4& p, const float4& g, float4& m, float4& v, const AdamKernelArgs& a) {
    adam_element(p.x, g.x, m.x, v.x, a);
    adam_element(p.y, g.y, m.y, v.y, a);
    adam_element(p.z, g.z, m.z, v.z, a);
    adam_element(p.w, g.w, m.w, v.w, a);
}

// One chunk of `len` <= kChunk elements starting at the given pointers.
__device__ __forceinline__ void adam_chunk(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                           float* __restrict__ v, int len, bool vec, const AdamKernelArgs& a) {
    const int tid = static_cast<int>(threadIdx.x);
    if (vec && len == kChunk) {
        auto* p4 = reinterpret_cast<float4*>(p);
        const auto* g4 = reinterpret_cast<const float4*>(g);
        auto* m4 = reinterpret_cast<float4*>(m);
        auto* v4 = reinterpret_cast<float4*>(v);
        float4 rp[kUnroll], rg[kUnroll], rm[kUnroll], rv[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int i = u * kThreads + tid;
            rp[u] = __ldcg(p4 + i);
            rg[u] = __ldcs(g4 + i);
            rm[u] = __ldcg(m4 + i);
            rv[u] = __ldcg(v4 + i);
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int i = u * kThreads + tid;
            adam_float4(rp[u], rg[u], rm[u], rv[u], a);
            __stcg(p4 + i, rp[u]);
            __stcg(m4 + i, rm[u]);
            __stcg(v4 + i, rv[u]);
        }
        return;
    }
    int done = 0;
    if (vec) {
        const int n4 = len / 4;
        auto* p4 = reinterpret_cast<float4*>(p);
        const auto* g4 = reinterpret_cast<const float4*>(g);
        auto* m4 = reinterpret_cast<float4*>(m);
        auto* v4 = reinterpret_cast<float4*>(v);
        for (int i = tid; i < n4; i += kThreads) {
            float4 rp = __ldcg(p4 + i), rm = __ldcg(m4 + i), rv = __ldcg(v4 + i);
            const float4 rg = __ldcs(g4 + i);
            adam_float4(rp, rg, rm, rv, a);
            __stcg(p4 + i, rp);
            __stcg(m4 + i, rm);
            __stcg(v4 + i, rv);
        }
        done = n4 * 4;
    }
    for (int i = done + tid; i < len; i += kThreads) {
        float rp = __ldcg(p + i), rm = __ldcg(m + i), rv = __ldcg(v + i);
        adam_element(rp, __ldcs(g + i), rm, rv, a);
        __stcg(p + i, rp);
        __stcg(m + i, rm);
        __stcg(v + i, rv);
    }
}

__global__ void __launch_bounds__(kThreads)
    adam_multi_tensor_kernel(const int64_t* __restrict__ table, int64_t num_tensors, AdamKernelArgs args) {
    const int64_t grid = gridDim.x;
    const int64_t block = blockIdx.x;
    int64_t chunks_before = 0;  // chunks of the tensors before t, across the list
    for (int64_t t = 0; t < num_tensors; ++t) {
        const int64_t n = table[4 * num_tensors + t];
        const int64_t nchunks = (n + kChunk - 1) / kChunk;
        // This block takes the chunks j of tensor t with (chunks_before + j) % grid == block.
        int64_t j = (block - chunks_before % grid + grid) % grid;
        if (j < nchunks) {
            auto* p = reinterpret_cast<float*>(table[t]);
            const auto* g = reinterpret_cast<const float*>(table[num_tensors + t]);
            auto* m = reinterpret_cast<float*>(table[2 * num_tensors + t]);
            auto* v = reinterpret_cast<float*>(table[3 * num_tensors + t]);
            const bool vec = ((reinterpret_cast<uintptr_t>(p) | reinterpret_cast<uintptr_t>(g) |
                               reinterpret_cast<uintptr_t>(m) | reinterpret_cast<uintptr_t>(v)) &
                              15u) == 0;
            for (; j < nchunks; j += grid) {
                const int64_t start = j * kChunk;
                const int64_t left = n - start;
                const int len = left < kChunk ? static_cast<int>(left) : kChunk;
                adam_chunk(p + start, g + start, m + start, v + start, len, vec, args);
            }
        }
        chunks_before += nchunks;
    }
}

}  // namespace

void adam_step(const AdamArgs& args, uintptr_t table, int64_t num_tensors, int64_t total_elements, uintptr_t stream) {
    if (num_tensors < 0 || total_elements < 0)
        throw std::runtime_error("cuda adam_step: negative tensor count or size");
    if (!(args.bias_correction1 > 0.0) || !(args.bias_correction2 > 0.0))
        throw std::runtime_error("cuda adam_step: bias corrections must be > 0 (got " +
                                 std::to_string(args.bias_correction1) + ", " + std::to_string(args.bias_correction2) +
                                 "); is step >= 1?");
    if (num_tensors == 0 || total_elements == 0) return;
    require_device();
    AdamKernelArgs k{};
    k.beta1 = static_cast<float>(args.beta1);
    k.beta2 = static_cast<float>(args.beta2);
    k.one_minus_beta1 = static_cast<float>(1.0 - args.beta1);
    k.one_minus_beta2 = static_cast<float>(1.0 - args.beta2);
    k.eps = static_cast<float>(args.eps);
    k.weight_decay = static_cast<float>(args.weight_decay);
    k.step_size = static_cast<float>(args.lr / args.bias_correction1);
    k.inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(args.bias_correction2));
    k.decay_factor = static_cast<float>(1.0 - args.lr * args.weight_decay);
    k.decoupled = args.decoupled_weight_decay ? 1 : 0;

    const int64_t chunks = (total_elements + kChunk - 1) / kChunk;
    const int64_t max_blocks = 8LL * multiprocessor_count(current_device());
    const unsigned blocks = static_cast<unsigned>(std::max<int64_t>(1, std::min(chunks, max_blocks)));
    TF_LAUNCH(adam_multi_tensor_kernel, blocks, kThreads, reinterpret_cast<cudaStream_t>(stream),
              reinterpret_cast<const int64_t*>(table), num_tensors, k);
    TF_CUDA_CHECK_LAUNCH("adam_multi_tensor_kernel");
}

}  // namespace tf::cuda
