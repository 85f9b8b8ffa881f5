// GEMM operand packing (see gemm_pack.h): plain copies into the sliver layout, with the
// transposing cases done in 4 x 4 register blocks. Baseline ISA (compiled without ISA flags).
#include "gemm_pack.h"

#include <algorithm>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace tf::cpu {
namespace {

// Transposing part of a pack: rows [0, live) of src (row stride ld, kc values each) into
// dst[p * width + r], in 4 x 4 blocks transposed in SSE registers (baseline x86-64). Returns the
// number of rows done (a multiple of 4); the caller copies the rest one by one.
template <typename T>
int64_t pack_transposed_4x4(const T*, int64_t, int64_t, int64_t, int, T*) { return 0; }
#if defined(__SSE2__)
template <>
int64_t pack_transposed_4x4<float>(const float* src, int64_t ld, int64_t live, int64_t kc, int width, float* dst) {
    const int64_t kc4 = kc / 4 * 4;
    int64_t r = 0;
    for (; r + 4 <= live; r += 4) {
        const float* s0 = src + r * ld;
        for (int64_t p = 0; p < kc4; p += 4) {
            __m128 x0 = _mm_loadu_ps(s0 + p), x1 = _mm_loadu_ps(s0 + ld + p);
            __m128 x2 = _mm_loadu_ps(s0 + 2 * ld + p), x3 = _mm_loadu_ps(s0 + 3 * ld + p);
            _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
            float* d = dst + p * width + r;
            _mm_storeu_ps(d, x0);
            _mm_storeu_ps(d + width, x1);
            _mm_storeu_ps(d + 2 * width, x2);
            _mm_storeu_ps(d + 3 * width, x3);
        }
        for (int64_t rr = r; rr < r + 4; ++rr)
            for (int64_t p = kc4; p < kc; ++p) dst[p * width + rr] = src[rr * ld + p];
    }
    return r;
}
#endif

}  // namespace

template <typename T>
void pack_a(const GemmShape& s, const T* a, int64_t i0, int64_t rows, int64_t p0, int64_t kc, int mr, T* dst) {
    for (int64_t is = 0; is < rows; is += mr, dst += mr * kc) {
        int64_t live = std::min<int64_t>(mr, rows - is);
        if (!s.trans_a) {
            const T* block = a + (i0 + is) * s.lda + p0;
            for (int64_t r = pack_transposed_4x4(block, s.lda, live, kc, mr, dst); r < live; ++r) {
                const T* src = block + r * s.lda;
                for (int64_t p = 0; p < kc; ++p) dst[p * mr + r] = src[p];
            }
        } else {
            for (int64_t p = 0; p < kc; ++p) {
                const T* src = a + (p0 + p) * s.lda + i0 + is;
                for (int64_t r = 0; r < live; ++r) dst[p * mr + r] = src[r];
            }
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
            const T* block = b + jj * s.ldb + p0;
            for (int64_t c = pack_transposed_4x4(block, s.ldb, live, kc, nr, dst); c < live; ++c) {
                const T* src = block + c * s.ldb;
                for (int64_t p = 0; p < kc; ++p) dst[p * nr + c] = src[p];
            }
            for (int64_t c = live; c < nr; ++c)
                for (int64_t p = 0; p < kc; ++p) dst[p * nr + c] = T(0);
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
