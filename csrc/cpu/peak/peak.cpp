// Peak measurements: the FMA loop of the active SIMD path run on every thread of the pool, and
// a multithreaded copy of a buffer much larger than the last-level cache.
#include "peak.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "../cpu_features.h"
#include "../thread_pool.h"

namespace tf::cpu {
namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double run_fma_loop(int64_t iters) {
    switch (active_isa()) {
#if defined(TENSORFORGE_HAVE_X86_KERNELS)
        case Isa::avx512: return fma_loop_avx512(iters);
        case Isa::avx2: return fma_loop_avx2(iters);
#endif
        default: return fma_loop_baseline(iters);
    }
}

}  // namespace

double fma_loop_baseline(int64_t iters) {
    // Written so the compiler vectorises it for the baseline target: 8 independent rows of 16.
    float acc[8][16];
    for (int r = 0; r < 8; ++r)
        for (int l = 0; l < 16; ++l) acc[r][l] = 0.001f * (r + l);
    for (int64_t it = 0; it < iters; ++it)
        for (int r = 0; r < 8; ++r)
            for (int l = 0; l < 16; ++l) acc[r][l] = acc[r][l] * 0.999999f + 1e-7f;
    float sum = 0;
    for (int r = 0; r < 8; ++r)
        for (int l = 0; l < 16; ++l) sum += acc[r][l];
    volatile float sink = sum;
    (void)sink;
    return static_cast<double>(iters) * 8 * 16 * 2;
}

double measure_fma_peak_gflops(int threads, double seconds) {
    // Calibrate the iteration count on one thread, then time all threads together; best of 3.
    int64_t iters = 1 << 16;
    for (;;) {
        double t0 = now();
        run_fma_loop(iters);
        if (now() - t0 > seconds / 10 || iters > (int64_t(1) << 40)) break;
        iters *= 2;
    }
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
        std::vector<double> flops(std::max(threads, 1), 0.0);
        double t0 = now();
        int used = parallel_run(threads, [&](int tid, int) { flops[tid] = run_fma_loop(iters); });
        double dt = now() - t0, total = 0;
        for (int i = 0; i < used; ++i) total += flops[i];
        best = std::max(best, total / dt * 1e-9);
    }
    return best;
}

double measure_copy_bandwidth_gbs(int64_t bytes, int threads, int repeats) {
    std::unique_ptr<char[]> src(new char[bytes]), dst(new char[bytes]);
    parallel_run(threads, [&](int tid, int nt) {  // first touch by the threads that will copy
        int64_t lo = bytes * tid / nt, hi = bytes * (tid + 1) / nt;
        std::memset(src.get() + lo, 1, hi - lo);
        std::memset(dst.get() + lo, 0, hi - lo);
    });
    double best = 0;
    for (int rep = 0; rep < std::max(repeats, 1); ++rep) {
        double t0 = now();
        parallel_run(threads, [&](int tid, int nt) {
            int64_t lo = bytes * tid / nt, hi = bytes * (tid + 1) / nt;
            std::memcpy(dst.get() + lo, src.get() + lo, hi - lo);
        });
        best = std::max(best, 2.0 * bytes / (now() - t0) * 1e-9);
    }
    return best;
}

}  // namespace tf::cpu
