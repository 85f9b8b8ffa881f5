// The GEMM path for products too small for packing to pay off (small_kernel.h): float32 on
// AVX-512, B row-major (A either way), on one thread. Measured on the machine of BENCHMARKS.md
// (one thread, CPU time, against the blocked path): the unpacked kernel is faster up to at least
// 2^22 multiply-adds when C has more than 16 columns (10x128x64 A^T 49 -> 78 GFLOP/s, 128^3 98 ->
// 104, 32x32x1024 67 -> 99), but with 16 or fewer it fills only half its 32-wide tile and loses
// from 128x16x64 (57 -> 43) on. It takes products of up to 2^17 multiply-adds (2^16 for n <= 16)
// always, at a few microseconds less than a second thread would gain, and up to 2^20 when the
// blocked path would run them on one thread anyway.
#pragma once
#include <tensorforge/gemm.h>

namespace tf::cpu {

// For float32 on the active SIMD path; blocked_threads: the threads of the blocked path's plan.
bool small_path_applies(const GemmShape& s, int blocked_threads);

void gemm_small(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c);

}  // namespace tf::cpu
