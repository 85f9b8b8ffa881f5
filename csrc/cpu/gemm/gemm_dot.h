// The GEMM path for C with few columns on the dot kernel (dot_kernel.h): float32 on AVX-512,
// row-major A, n <= 16, and k long enough for dot products to beat a broadcast microkernel on
// packed A (in practice n <= 10 or so). Threads split the rows of C; nothing is shared, so
// there is no barrier.
#pragma once
#include <tensorforge/gemm.h>

namespace tf::cpu {

bool dot_path_applies(const GemmShape& s);  // for float32 on the active SIMD path

void gemm_dot(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c, int max_threads);

}  // namespace tf::cpu
