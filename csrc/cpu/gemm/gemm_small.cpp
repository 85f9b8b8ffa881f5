// Driver of the small-product GEMM path (gemm_small.h): C in tiles of SMALL_MR x SMALL_NR, column
// blocks outer so that B's k x 32 block stays in L1 while the row groups of A pass over it.
#include "gemm_small.h"

#include <algorithm>

#include "../cpu_features.h"
#include "small_kernel.h"

namespace tf::cpu {
namespace {

constexpr int64_t SMALL_ALWAYS_MACS = int64_t(1) << 17, SMALL_ONE_THREAD_MACS = int64_t(1) << 20;

}  // namespace

bool small_path_applies(const GemmShape& s, int blocked_threads) {
#if defined(TENSORFORGE_HAVE_X86_KERNELS)
    if (active_isa() != Isa::avx512 || s.trans_b) return false;
    const int64_t macs = s.m * s.n * s.k;
    if (s.n <= SMALL_NR / 2) return macs <= SMALL_ALWAYS_MACS / 2;
    return macs <= SMALL_ALWAYS_MACS || (macs <= SMALL_ONE_THREAD_MACS && blocked_threads == 1);
#else
    (void)s, (void)blocked_threads;
    return false;
#endif
}

void gemm_small(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c) {
#if defined(TENSORFORGE_HAVE_X86_KERNELS)
    const SmallKernel kernel = small_kernel_f32_avx512();
    const int64_t a_rs = s.trans_a ? 1 : s.lda, a_ps = s.trans_a ? s.lda : 1;
    for (int64_t j = 0; j < s.n; j += SMALL_NR) {
        const int cols = static_cast<int>(std::min<int64_t>(SMALL_NR, s.n - j));
        for (int64_t i = 0; i < s.m; i += SMALL_MR) {
            const int rows = static_cast<int>(std::min<int64_t>(SMALL_MR, s.m - i));
            kernel.run(s.k, rows, cols, a + i * a_rs, a_rs, a_ps, b + j, s.ldb, c + i * s.ldc + j, s.ldc, alpha, beta);
        }
    }
#else
    (void)s, (void)alpha, (void)a, (void)b, (void)beta, (void)c;
#endif
}

}  // namespace tf::cpu
