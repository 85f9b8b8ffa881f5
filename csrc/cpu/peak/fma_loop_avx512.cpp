// FMA-bound loop for AVX-512: 12 independent zmm accumulators hide the FMA latency on every
// current core (latency 4 x 2 ports = 8 in flight needed); 12 * 16 lanes * 2 flops per iteration.
#include <immintrin.h>

#include "peak.h"

namespace tf::cpu {

double fma_loop_avx512(int64_t iters) {
    __m512 acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int64_t it = 0; it < iters; ++it)
        for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
    __m512 sum = acc[0];
    for (int i = 1; i < 12; ++i) sum = _mm512_add_ps(sum, acc[i]);
    volatile float sink = _mm512_reduce_add_ps(sum);
    (void)sink;
    return static_cast<double>(iters) * 12 * 16 * 2;
}

}  // namespace tf::cpu
