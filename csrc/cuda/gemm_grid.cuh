// Splits a GEMM launch into chunks that fit CUDA's grid: x walks column tiles, y row tiles and z
// the batch, and y and z are limited to 65535, so large m or batch take several launches. Shared by
// gemm_f32.cu and gemm_tensor_core.cu (row-major C, op(A) rows offset by the chunk's first row).
#pragma once
#include <cuda_runtime.h>

#include <tensorforge/gemm.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tf::cuda::gemm_grid {

#ifndef TF_EMU_MAX_GRID_YZ
constexpr int64_t kMaxGridYZ = 65535;
#else
constexpr int64_t kMaxGridYZ = TF_EMU_MAX_GRID_YZ;  // the CPU emulation shrinks it to test the split
#endif

// One launch's share: A, B and C advanced to its first batch and row tile, its row count, its grid.
struct Chunk {
    const float* a;
    const float* b;
    float* c;
    int64_t rows;
    dim3 grid;
};

// Calls launch(chunk) for every chunk of a GEMM with block tiles of bm x bn.
template <class Launch>
void for_each_chunk(const GemmShape& s, const float* a, const float* b, float* c, const GemmBatch& batch, int bm,
                    int bn, Launch&& launch) {
    const int64_t ntiles = (s.n + bn - 1) / bn;
    const int64_t mtiles = (s.m + bm - 1) / bm;
    if (ntiles > 0x7fffffff) throw std::runtime_error("cuda gemm: n = " + std::to_string(s.n) + " is too large");
    for (int64_t z0 = 0; z0 < batch.count; z0 += kMaxGridYZ) {
        const int64_t zn = std::min(kMaxGridYZ, batch.count - z0);
        for (int64_t t0 = 0; t0 < mtiles; t0 += kMaxGridYZ) {
            const int64_t tn = std::min(kMaxGridYZ, mtiles - t0);
            const int64_t row0 = t0 * bm;
            launch(Chunk{a + z0 * batch.stride_a + (s.trans_a ? row0 : row0 * s.lda), b + z0 * batch.stride_b,
                         c + z0 * batch.stride_c + row0 * s.ldc, std::min(s.m - row0, tn * bm),
                         dim3(static_cast<unsigned>(ntiles), static_cast<unsigned>(tn), static_cast<unsigned>(zn))});
        }
    }
}

}  // namespace tf::cuda::gemm_grid
