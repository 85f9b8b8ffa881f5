// Portable grid microkernels (grid_microkernel.h; any target, aarch64 included) and the run-time
// choice among the per-ISA ones: plain loops over a fixed-size accumulator array that the
// compiler keeps in vector registers of the baseline ISA.
#include "grid_microkernel.h"

#include "../cpu_features.h"

namespace tf::cpu {
namespace {

template <typename T, int MR, int NR>
void kernel(const T* a, int64_t plane, int64_t planes, const int64_t* taps, int64_t ntaps, const T* b, int64_t b_plane,
            T* c, int64_t ldc, bool accumulate) {
    T acc[MR][NR] = {};
    for (int64_t o = 0; o < planes; ++o, a += plane, b += b_plane - ntaps * NR)
        for (int64_t t = 0; t < ntaps; ++t, b += NR) {
            const T* at = a + taps[t];
            for (int r = 0; r < MR; ++r)
                for (int j = 0; j < NR; ++j) acc[r][j] += at[r] * b[j];
        }
    for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NR; ++j) c[r * ldc + j] = accumulate ? c[r * ldc + j] + acc[r][j] : acc[r][j];
}

template <typename T, int NR>
void run(int rows, int, int64_t, const T* a, int64_t plane, int64_t planes, const int64_t* taps, int64_t ntaps,
         const unsigned char*, const T* b, int64_t b_plane, T* c, int64_t ldc, bool accumulate) {  // one output row
    switch (rows) {
        case 1: return kernel<T, 1, NR>(a, plane, planes, taps, ntaps, b, b_plane, c, ldc, accumulate);
        case 2: return kernel<T, 2, NR>(a, plane, planes, taps, ntaps, b, b_plane, c, ldc, accumulate);
        case 3: return kernel<T, 3, NR>(a, plane, planes, taps, ntaps, b, b_plane, c, ldc, accumulate);
        default: return kernel<T, 4, NR>(a, plane, planes, taps, ntaps, b, b_plane, c, ldc, accumulate);
    }
}

}  // namespace

GridMicrokernel<float> grid_microkernel_f32_baseline() { return {4, 16, false, run<float, 16>}; }
GridMicrokernel<double> grid_microkernel_f64_baseline() { return {4, 8, false, run<double, 8>}; }

GridMicrokernel<float> grid_microkernel(float) {
    switch (active_isa()) {
#if defined(TENSORFORGE_HAVE_X86_KERNELS)
        case Isa::avx512: return grid_microkernel_f32_avx512();
        case Isa::avx2: return grid_microkernel_f32_avx2();
#endif
        default: return grid_microkernel_f32_baseline();
    }
}
GridMicrokernel<double> grid_microkernel(double) { return grid_microkernel_f64_baseline(); }

}  // namespace tf::cpu
