// AVX2+FMA float32 GEMM microkernel, 6 x 16 tile.
// Per k step: two ymm loads of the packed B row (16 columns), 6 broadcasts of the packed A
// column, 12 FMAs into 12 ymm accumulators (6 rows x 2 vectors); 15 of 16 registers in use.
#include <immintrin.h>

#include "microkernel.h"

namespace tf::cpu {
namespace {

constexpr int MR = 6, NR = 16;

void kernel(int64_t kc, const float* a, const float* b, float* tile) {
    __m256 acc[MR][2];
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t p = 0; p < kc; ++p) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        for (int r = 0; r < MR; ++r) {
            const __m256 av = _mm256_broadcast_ss(a + r);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
        a += MR;
        b += NR;
    }
    for (int r = 0; r < MR; ++r) {
        _mm256_storeu_ps(tile + r * NR, acc[r][0]);
        _mm256_storeu_ps(tile + r * NR + 8, acc[r][1]);
    }
}

}  // namespace

GemmMicrokernel<float> gemm_microkernel_f32_avx2() { return {MR, NR, kernel}; }

}  // namespace tf::cpu
