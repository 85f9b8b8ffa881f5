// The warp-level tensor-core products shared by the mma.sync kernels (gemm_tensor_core.cu,
// attention_tc*.cu): D += A B with float32 accumulators, A row-major and B column-major fragments as
// the PTX ISA's fragment tables lay them out. sm_80+; the CPU emulation (emu/cuda_runtime.h) runs
// its own implementation of the same tables; older targets trap (their launchers never get here).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace tf::cuda {

// m16n8k8, tf32 inputs (a: 4 words, b: 2 words, each one tf32 value).
__device__ __forceinline__ void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(TF_CUDA_EMULATE)
    tf_emu::mma_sync_m16n8k8_tf32(d, a, b);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    __trap();
#endif
}

// m16n8k16, bfloat16 inputs (each word holds two values, the lower k index in the low half).
__device__ __forceinline__ void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(TF_CUDA_EMULATE)
    tf_emu::mma_sync_m16n8k16_bf16(d, a, b);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    __trap();
#endif
}

}  // namespace tf::cuda
