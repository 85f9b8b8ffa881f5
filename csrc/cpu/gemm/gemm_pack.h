// Packing of GEMM operands into the slivers the microkernels read (layout in microkernel.h).
//
// pack_a: rows [i0, i0 + rows) and depth [p0, p0 + kc) of op(A) into MR-row slivers, each kc
//         groups of MR values (one per row); ragged rows are zero-padded.
// pack_b: slivers [s0, s1) (NR columns each, counted from column j0; `cols` columns in the panel)
//         of op(B)'s rows [p0, p0 + kc), sliver sl at dst + (sl - s0) * NR * kc; ragged columns
//         are zero-padded.
// Both read op(A)/op(B) through the transpose flags of the shape; the packs that transpose
// (row-major A, transposed B) move 4 x 4 blocks through SSE registers on x86-64.
#pragma once
#include <tensorforge/gemm.h>

#include <cstdint>

namespace tf::cpu {

template <typename T>
void pack_a(const GemmShape& s, const T* a, int64_t i0, int64_t rows, int64_t p0, int64_t kc, int mr, T* dst);

template <typename T>
void pack_b(const GemmShape& s, const T* b, int64_t j0, int64_t cols, int64_t p0, int64_t kc, int nr, int64_t s0,
            int64_t s1, T* dst);

}  // namespace tf::cpu
