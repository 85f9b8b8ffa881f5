// Microkernels whose A operand is read in place as MR rows, each from its own pointer (no
// packing), for the conv2d grad-weight drivers, where A is a block of im2col rows, dy rows, or
// input rows at each kernel tap's offset, that would otherwise need a transposing pack per use.
//
// run(segs, seg_len, seg_stride, rows, b, c, ldc, accumulate) computes the MR x NR tile
//   acc[r][j] = sum_{s < segs} sum_{p < seg_len} rows[r][s * seg_stride + p] * b[(s * seg_len + p) * NR + j]
// (segments: runs of output pixels, one per output row, that skip the padding columns of a
// grid) with b a packed sliver (groups of NR values, as the GEMM's), and writes it from registers
// into the row-major tile at c: c = acc, or c += acc when accumulate. One per ISA, chosen at run
// time by rows_microkernel(); MR / NR are those of the GEMM microkernel of the same ISA.
#pragma once
#include <cstdint>

namespace tf::cpu {

template <typename T>
struct RowsMicrokernel {
    int mr, nr;
    void (*run)(int64_t segs, int64_t seg_len, int64_t seg_stride, const T* const* rows, const T* b, T* c, int64_t ldc,
                bool accumulate);
};

RowsMicrokernel<float> rows_microkernel_f32_avx512();     // 12 x 32, zmm
RowsMicrokernel<float> rows_microkernel_f32_avx2();       // 6 x 16, ymm
RowsMicrokernel<float> rows_microkernel_f32_baseline();   // 4 x 16, portable C++
RowsMicrokernel<double> rows_microkernel_f64_baseline();  // 4 x 8, portable C++

RowsMicrokernel<float> rows_microkernel(float);   // for the active ISA (cpu_features.h)
RowsMicrokernel<double> rows_microkernel(double);

}  // namespace tf::cpu
