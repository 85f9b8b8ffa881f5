// Operand packing for the fused attention kernel, one implementation per SIMD path.
//
// interleave_rows(a, lda, rows, w, cols, d): d[p * w + r] = a[r * lda + p] for p < cols, r < w,
// with rows r >= rows read as zero. It packs a sliver of w rows of a row-major matrix as a GEMM
// microkernel operand (w = MR for an A sliver, w = NR for the B sliver of a transposed matrix),
// i.e. the transpose of a w x cols block. The AVX2 unit transposes 8 x 8 blocks in registers;
// the baseline is a plain loop. AVX-512 machines use the AVX2 unit.
#pragma once
#include <cstdint>

namespace tf::cpu {

template <typename T>
using AttentionInterleaveRows = void (*)(const T* a, int64_t lda, int64_t rows, int64_t w, int64_t cols, T* d);

AttentionInterleaveRows<float> attention_interleave_rows_f32_avx2();
AttentionInterleaveRows<float> attention_interleave_rows_f32_baseline();
AttentionInterleaveRows<double> attention_interleave_rows_f64_baseline();

}  // namespace tf::cpu
