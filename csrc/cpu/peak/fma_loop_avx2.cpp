// FMA-bound loop for AVX2+FMA: 12 independent ymm accumulators; 12 * 8 lanes * 2 flops per iteration.
#include <immintrin.h>

#include "peak.h"

namespace tf::cpu {

double fma_loop_avx2(int64_t iters) {
    __m256 acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(0.001f * i);
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (int64_t it = 0; it < iters; ++it)
        for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
    __m256 sum = acc[0];
    for (int i = 1; i < 12; ++i) sum = _mm256_add_ps(sum, acc[i]);
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, sum);
    volatile float sink = lanes[0] + lanes[7];
    (void)sink;
    return static_cast<double>(iters) * 12 * 8 * 2;
}

}  // namespace tf::cpu
