// Microkernels whose A operand is read in place as MR row-major rows (no packing), for the
// conv2d grad-weight driver, where A is a block of im2col rows that would otherwise need a
// transposing pack per use.
//
// run(kc, a, lda, b, c, ldc, accumulate) computes the MR x NR tile
//   acc[r][j] = sum_{p < kc} a[r * lda + p] * b[p * NR + j]
// with b a packed sliver (kc groups of NR values, as the GEMM's), and writes it from registers
// into the row-major tile at c: c = acc, or c += acc when accumulate. One per ISA, chosen at run
// time by rows_microkernel(); MR / NR are those of the GEMM microkernel of the same ISA.
#pragma once
#include <cstdint>

namespace tf::cpu {

template <typename T>
struct RowsMicrokernel {
    int mr, nr;
    void (*run)(int64_t kc, const T* a, int64_t lda, const T* b, T* c, int64_t ldc, bool accumulate);
};

RowsMicrokernel<float> rows_microkernel_f32_avx512();     // 12 x 32, zmm
RowsMicrokernel<float> rows_microkernel_f32_avx2();       // 6 x 16, ymm
RowsMicrokernel<float> rows_microkernel_f32_baseline();   // 4 x 16, portable C++
RowsMicrokernel<double> rows_microkernel_f64_baseline();  // 4 x 8, portable C++

RowsMicrokernel<float> rows_microkernel(float);   // for the active ISA (cpu_features.h)
RowsMicrokernel<double> rows_microkernel(double);

}  // namespace tf::cpu
