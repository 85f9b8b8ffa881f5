// The transposing pack shared by the GEMM (row-major A, transposed B) and the conv2d drivers
// (see pack_transposed.cpp).
#pragma once
#include <cstdint>

namespace tf::cpu {

// rows (count x len, row r at src + r * ld) as nr-wide packed slivers [sl][d][lane] = row
// sl * nr + lane, value d (sliver sl at dst + sl * sliver_stride), zero lanes past the last row.
template <typename T>
void pack_transposed(const T* src, int64_t ld, int64_t count, int64_t len, int nr, int64_t sliver_stride, T* dst);

}  // namespace tf::cpu
