// Driver of the dot-kernel GEMM path (gemm_dot.h). B^T rows are read in place when B is passed
// transposed (x W^T of a Linear layer); otherwise B (k x n, n <= 16) is first transposed into a
// small buffer. k is walked in DOT_KC blocks so the B^T block stays in L2 while A streams; the
// threads take contiguous ranges of C's rows.
#include "gemm_dot.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>

#include "../cpu_features.h"
#include "../thread_pool.h"
#include "dot_kernel.h"
#include "gemm_plan.h"

namespace tf::cpu {
namespace {

constexpr int64_t DOT_KC = 4096;

struct FreeDeleter {
    void operator()(float* p) const { std::free(p); }
};

}  // namespace

bool dot_path_applies(const GemmShape& s) {
#if defined(TENSORFORGE_HAVE_X86_KERNELS)
    // Per row the dot kernel spends about n * (k / 16 + 3) vector operations (FMAs, then the
    // horizontal sums and block set-up); the 16-column broadcast kernel k FMAs plus packing the
    // row. Measured (BENCHMARKS.md): the dot kernel wins below about 0.9 k, e.g. for n <= 10 at
    // k = 128, and loses for n = 12..16 there.
    return active_isa() == Isa::avx512 && !s.trans_a && s.n <= DOT_MAX_N &&
           10 * s.n * ((s.k + 15) / 16 + 3) < 9 * s.k;
#else
    (void)s;
    return false;
#endif
}

void gemm_dot(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c, int max_threads) {
#if defined(TENSORFORGE_HAVE_X86_KERNELS)
    const DotKernel kernel = dot_kernel_f32_avx512();
    const float* bt = b;
    int64_t ldbt = s.ldb;
    std::unique_ptr<float, FreeDeleter> copy;
    if (!s.trans_b) {  // B is k x n row-major: transpose it into n rows of k
        const size_t bytes = (static_cast<size_t>(s.n * s.k) * sizeof(float) + 63) / 64 * 64;
        copy.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
        if (!copy) throw std::bad_alloc();
        for (int64_t p = 0; p < s.k; ++p)
            for (int64_t j = 0; j < s.n; ++j) copy.get()[j * s.k + p] = b[p * s.ldb + j];
        bt = copy.get();
        ldbt = s.k;
    }
    const int threads = plan_dot_threads(s.m, s.n, s.k, max_threads);
    parallel_run(threads, [&](int tid, int nt) {
        const int64_t r0 = s.m * tid / nt, r1 = s.m * (tid + 1) / nt;
        if (r0 >= r1) return;
        for (int64_t pc = 0; pc < s.k; pc += DOT_KC) {
            const int64_t kc = std::min(DOT_KC, s.k - pc);
            kernel.run(r1 - r0, s.n, kc, a + r0 * s.lda + pc, s.lda, bt + pc, ldbt, c + r0 * s.ldc, s.ldc, alpha, beta,
                       pc > 0);
        }
    });
#else
    (void)s, (void)alpha, (void)a, (void)b, (void)beta, (void)c, (void)max_threads;
#endif
}

}  // namespace tf::cpu
