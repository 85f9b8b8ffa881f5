// The input rounding of the tensor-core GEMMs (gemm_tensor_core.cu, gemm_wgmma.cu): float32 to
// the bits of tf32 (kept in a 32-bit word) or of bfloat16 (the low 16 bits of a word).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

namespace tf::cuda::tensor_core_rounding {

__device__ __forceinline__ uint32_t float_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

// tf32 = float32 with the low 13 mantissa bits cleared, rounded to nearest with ties away from zero
// (cvt.rna.tf32.f32); infinities and NaN pass through.
__device__ __forceinline__ uint32_t round_to_tf32(float x) {
    const uint32_t u = float_bits(x);
    if ((u & 0x7f800000u) == 0x7f800000u) return u;
    return (u + 0x1000u) & 0xffffe000u;
}

// bfloat16 bits of x, rounded to nearest even; NaN stays a (quiet) NaN.
__device__ __forceinline__ uint32_t round_to_bf16(float x) {
    const uint32_t u = float_bits(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x0040u;
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

}  // namespace tf::cuda::tensor_core_rounding
