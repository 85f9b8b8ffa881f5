// Machine limits measured in the same run as a benchmark: the FMA-bound compute peak and the
// large-copy memory bandwidth. bench/ reports every kernel as a fraction of these.
#pragma once
#include <cstdint>

namespace tf::cpu {

// GFLOP/s of a loop of independent FMAs on `threads` threads for about `seconds`, using the
// active SIMD path (the widest the kernels use).
double measure_fma_peak_gflops(int threads, double seconds);

// GB/s (bytes read + bytes written) of copying `bytes` between two fresh buffers, best of `repeats`.
double measure_copy_bandwidth_gbs(int64_t bytes, int threads, int repeats);

// Per-ISA FMA loops: each runs `iters` iterations of its unrolled block and returns the flops done.
double fma_loop_baseline(int64_t iters);
double fma_loop_avx2(int64_t iters);
double fma_loop_avx512(int64_t iters);

}  // namespace tf::cpu
