// Portable rows microkernels (rows_microkernel.h; any target, aarch64 included) and the run-time
// choice among the per-ISA ones: plain loops over a fixed-size accumulator array that the
// compiler keeps in vector registers of the baseline ISA.
#include "rows_microkernel.h"

#include "../cpu_features.h"

namespace tf::cpu {
namespace {

template <typename T, int MR, int NR>
void kernel(int64_t segs, int64_t seg_len, int64_t seg_stride, const T* const* rows, const T* b, T* c, int64_t ldc,
            bool accumulate) {
    T acc[MR][NR] = {};
    for (int64_t sg = 0; sg < segs; ++sg)
        for (int64_t p = 0; p < seg_len; ++p, b += NR)
            for (int r = 0; r < MR; ++r) {
                const T av = rows[r][sg * seg_stride + p];
                for (int j = 0; j < NR; ++j) acc[r][j] += av * b[j];
            }
    for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NR; ++j) c[r * ldc + j] = accumulate ? c[r * ldc + j] + acc[r][j] : acc[r][j];
}

}  // namespace

RowsMicrokernel<float> rows_microkernel_f32_baseline() { return {4, 16, kernel<float, 4, 16>}; }
RowsMicrokernel<double> rows_microkernel_f64_baseline() { return {4, 8, kernel<double, 4, 8>}; }

RowsMicrokernel<float> rows_microkernel(float) {
    switch (active_isa()) {
#if defined(TENSORFORGE_HAVE_X86_KERNELS)
        case Isa::avx512: return rows_microkernel_f32_avx512();
        case Isa::avx2: return rows_microkernel_f32_avx2();
#endif
        default: return rows_microkernel_f32_baseline();
    }
}
RowsMicrokernel<double> rows_microkernel(double) { return rows_microkernel_f64_baseline(); }

}  // namespace tf::cpu
