// The GEMM microkernel contract shared by the driver and the per-ISA units.
//
// A microkernel computes one MR x NR tile acc[r][c] = sum_p a[p][r] * b[p][c] over kc steps,
// where `a` is a packed A sliver (kc groups of MR values, one per row) and `b` a packed B sliver
// (kc groups of NR values, one per column), both zero-padded at the edges, and writes it from
// registers into the row-major tile at `c` (row stride ldc):
//   accumulate:      c += alpha * acc          (later K steps)
//   beta == 0:       c  = alpha * acc          (C is never read)
//   otherwise:       c  = alpha * acc + beta * c
// The driver passes C itself for full tiles and a scratch tile for ragged edges.
#pragma once
#include <cstdint>

namespace tf::cpu {
constexpr int GEMM_TILE_MAX = 12 * 32;  // the largest MR * NR of any microkernel (scratch tiles)
}

namespace tf::cpu {

template <typename T>
struct GemmMicrokernel {
    int mr, nr;
    void (*run)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta, bool accumulate);
    // Optional (null where a kernel has none): the first `rows` (< mr) rows of the tile only, same
    // packed operands, written into C (full NR columns) by the same contract.
    void (*run_rows)(int64_t kc, int rows, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta,
                     bool accumulate) = nullptr;
};

GemmMicrokernel<float> gemm_microkernel_f32_avx512();    // 12 x 32, zmm (with run_rows)
GemmMicrokernel<float> gemm_microkernel_f32_avx2();      // 6 x 16, ymm (with run_rows)
// Narrow kernels for C with at most NR columns (a wide tile would waste most of its columns).
GemmMicrokernel<float> gemm_microkernel_f32_avx512_narrow();  // 24 x 16, zmm
GemmMicrokernel<float> gemm_microkernel_f32_avx2_narrow();    // 12 x 8, ymm
GemmMicrokernel<float> gemm_microkernel_f32_baseline();  // 4 x 16, portable C++
GemmMicrokernel<double> gemm_microkernel_f64_baseline(); // 4 x 8, portable C++

}  // namespace tf::cpu
