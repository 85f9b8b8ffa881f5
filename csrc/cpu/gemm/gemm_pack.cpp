// GEMM operand packing (see gemm_pack.h): plain copies into the sliver layout; the transposing
// cases (row-major A, transposed B) go through the shared 4 x 4 register-block pack
// (../pack_transposed.h). Baseline ISA (compiled without ISA flags).
#include "gemm_pack.h"

#include <algorithm>

#include "../pack_transposed.h"

namespace tf::cpu {

template <typename T>
void pack_a(const GemmShape& s, const T* a, int64_t i0, int64_t rows, int64_t p0, int64_t kc, int mr, T* dst) {
    for (int64_t is = 0; is < rows; is += mr, dst += mr * kc) {
        int64_t live = std::min<int64_t>(mr, rows - is);
        if (!s.trans_a) {
            pack_transposed(a + (i0 + is) * s.lda + p0, s.lda, live, kc, mr, mr * kc, dst);
            continue;
        }
        for (int64_t p = 0; p < kc; ++p) {
            const T* src = a + (p0 + p) * s.lda + i0 + is;
            for (int64_t r = 0; r < live; ++r) dst[p * mr + r] = src[r];
        }
        for (int64_t r = live; r < mr; ++r)
            for (int64_t p = 0; p < kc; ++p) dst[p * mr + r] = T(0);
    }
}

template <typename T>
void pack_b(const GemmShape& s, const T* b, int64_t j0, int64_t cols, int64_t p0, int64_t kc, int nr, int64_t s0,
            int64_t s1, T* dst) {
    for (int64_t sl = s0; sl < s1; ++sl, dst += nr * kc) {
        int64_t jj = j0 + sl * nr, live = std::min<int64_t>(nr, cols - sl * nr);
        if (!s.trans_b) {
            for (int64_t p = 0; p < kc; ++p) {
                const T* src = b + (p0 + p) * s.ldb + jj;
                for (int64_t c = 0; c < live; ++c) dst[p * nr + c] = src[c];
                for (int64_t c = live; c < nr; ++c) dst[p * nr + c] = T(0);
            }
        } else {
            pack_transposed(b + jj * s.ldb + p0, s.ldb, live, kc, nr, nr * kc, dst);
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
