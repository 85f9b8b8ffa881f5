// Portable GEMM microkernels (any target, aarch64 included): plain loops over a fixed-size
// accumulator array that the compiler keeps in vector registers of the baseline ISA; the
// write-back follows the contract in microkernel.h.
// float32: 4 x 16 tile; float64 (gradient checks): 4 x 8 tile.
#include "microkernel.h"

namespace tf::cpu {
namespace {

template <typename T, int MR, int NR>
void kernel(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta, bool accumulate) {
    T acc[MR][NR] = {};
    for (int64_t p = 0; p < kc; ++p) {
        for (int r = 0; r < MR; ++r)
            for (int c = 0; c < NR; ++c) acc[r][c] += a[r] * b[c];
        a += MR;
        b += NR;
    }
    for (int r = 0; r < MR; ++r) {
        T* dst = c + r * ldc;
        for (int j = 0; j < NR; ++j) {
            if (accumulate) dst[j] += alpha * acc[r][j];
            else if (beta == T(0)) dst[j] = alpha * acc[r][j];
            else dst[j] = alpha * acc[r][j] + beta * dst[j];
        }
    }
}

}  // namespace

GemmMicrokernel<float> gemm_microkernel_f32_baseline() { return {4, 16, kernel<float, 4, 16>}; }
GemmMicrokernel<double> gemm_microkernel_f64_baseline() { return {4, 8, kernel<double, 4, 8>}; }

}  // namespace tf::cpu
