// GEMM operand packing (see gemm_pack.h): plain copies into the sliver layout; the transposing
// cases (row-major A, transposed B) go through the shared 4 x 4 register-block pack
// (../pack_transposed.h). Baseline ISA (compiled without ISA flags).
#include "gemm_pack.h"

#include <algorithm>
#include <cstring>

#include "../pack_transposed.h"

namespace tf::cpu {
namespace {

// nr values, a fixed-size copy for the tile widths in use (inlined as vector moves).
template <typename T>
void copy_row(const T* src, int nr, T* dst) {
    switch (nr) {
        case 32: std::memcpy(dst, src, 32 * sizeof(T)); return;
        case 16: std::memcpy(dst, src, 16 * sizeof(T)); return;
        case 24: std::memcpy(dst, src, 24 * sizeof(T)); return;
        case 12: std::memcpy(dst, src, 12 * sizeof(T)); return;
        case 8: std::memcpy(dst, src, 8 * sizeof(T)); return;
        case 6: std::memcpy(dst, src, 6 * sizeof(T)); return;
        case 4: std::memcpy(dst, src, 4 * sizeof(T)); return;
        default: std::memcpy(dst, src, nr * sizeof(T)); return;
    }
}

}  // namespace

template <typename T>
void pack_a(const GemmShape& s, const T* a, int64_t i0, int64_t rows, int64_t p0, int64_t kc, int mr, T* dst) {
    if (!s.trans_a) {
        pack_transposed(a + i0 * s.lda + p0, s.lda, rows, kc, mr, mr * kc, dst);
        return;
    }
    // Row by row of the stored A (k x m), every sliver's mr values of a row in turn.
    const int64_t full = rows / mr;  // slivers with mr live rows
    for (int64_t p = 0; p < kc; ++p) {
        const T* src = a + (p0 + p) * s.lda + i0;
        T* out = dst + p * mr;
        for (int64_t sl = 0; sl < full; ++sl, out += mr * kc) copy_row(src + sl * mr, mr, out);
        if (full * mr < rows) {
            const int64_t live = rows - full * mr;
            for (int64_t r = 0; r < live; ++r) out[r] = src[full * mr + r];
            for (int64_t r = live; r < mr; ++r) out[r] = T(0);
        }
    }
}

template <typename T>
void pack_b(const GemmShape& s, const T* b, int64_t j0, int64_t cols, int64_t p0, int64_t kc, int nr, int64_t s0,
            int64_t s1, T* dst) {
    if (s.trans_b) {
        for (int64_t sl = s0; sl < s1; ++sl, dst += nr * kc) {
            const int64_t jj = j0 + sl * nr, live = std::min<int64_t>(nr, cols - sl * nr);
            pack_transposed(b + jj * s.ldb + p0, s.ldb, live, kc, nr, nr * kc, dst);
        }
        return;
    }
    // Row by row of B, so the reads run along its rows (column by column, each row read is a
    // cache miss at a stride of ldb: 13% of a one-thread 128x512x512 profile, mostly waiting).
    const int64_t full = std::min(s1, std::max(s0, cols / nr));  // slivers [s0, full) have nr live columns
    for (int64_t p = 0; p < kc; ++p) {
        const T* src = b + (p0 + p) * s.ldb + j0;
        T* out = dst + p * nr;
        for (int64_t sl = s0; sl < full; ++sl, out += nr * kc) copy_row(src + sl * nr, nr, out);
        for (int64_t sl = full; sl < s1; ++sl, out += nr * kc) {
            const int64_t live = std::min<int64_t>(nr, cols - sl * nr);
            for (int64_t c = 0; c < live; ++c) out[c] = src[sl * nr + c];
            for (int64_t c = live; c < nr; ++c) out[c] = T(0);
        }
    }
}

template void pack_a<float>(const GemmShape&, const float*, int64_t, int64_t, int64_t, int64_t, int, float*);
template void pack_a<double>(const GemmShape&, const double*, int64_t, int64_t, int64_t, int64_t, int, double*);
template void pack_b<float>(const GemmShape&, const float*, int64_t, int64_t, int64_t, int64_t, int, int64_t, int64_t,
                            float*);
template void pack_b<double>(const GemmShape&, const double*, int64_t, int64_t, int64_t, int64_t, int, int64_t,
                             int64_t, double*);

}  // namespace tf::cpu
