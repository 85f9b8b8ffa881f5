// CPU GEMM driver: C = alpha * op(A) * op(B) + beta * C, row-major (see tensorforge/gemm.h).
//
// BLIS-style blocking around a register-blocked MR x NR microkernel (microkernel.h), the whole
// product in one parallel region split as gemm_plan.h chooses (rows, columns or depth of C):
//   for jc over N in NC columns          B panel KC x NC (packed: L2/L3)
//     for pc over K in KC steps           pack B into NR-wide slivers (rows split: the threads
//                                         claim groups of slivers; columns split: its own slivers)
//       over rows of C                    A rows packed by the thread that multiplies them
//         for ir over MR slivers           A sliver KC x MR (L1: 18 KiB at KC = 384)
//           for jr over its NR slivers     B sliver streamed from L2/L3; microkernel, writing C
//                                          from registers with alpha/beta
// The A sliver (12 rows) is the one kept in L1 and the wider B sliver (32 columns) the one
// streamed: the other way round, a 32-column B sliver at this depth fills all of Zen 4's 32 KiB
// L1 and the streamed A sliver evicts it (1024^3 on one thread: 88 -> 98 GFLOP/s). K steps are
// evened out (784 = 3 x 262, not 2 x 384 + 16).
// Rows split: nothing is assigned in advance. The threads claim pack units (groups of B slivers)
// and compute units (groups of A slivers) of each step from shared counters, so a thread that
// starts late or is held up leaves its work to the others instead of making them wait at a
// barrier (multiply_rows_shared). The B panels alternate between two buffers. Columns split: each
// thread keeps its slivers in a buffer of its own, so no thread ever writes memory another one
// reads. C with few columns and row-major A takes the dot kernel instead (gemm_dot.h), a product
// too small to pay for packing the small kernel (gemm_small.h); C with at most 16 (AVX-512) or 8
// (AVX2) columns otherwise takes the ISA's narrow microkernel.
// Packing zero-pads ragged edges (gemm_pack.h), so every microkernel call computes a full tile
// and odd sizes take the same path; a tile with ragged rows but all NR columns takes the
// kernel's edge variant where it has one (run_rows: only the live rows computed; the wide AVX-512
// and AVX2 kernels), other ragged edge tiles go through a scratch tile that is then copied into C.
// beta is applied on the first K step only (beta == 0 never reads C).
// Batched calls run whole matrices on separate threads when each matrix is small.
#include <tensorforge/gemm.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>

#include "../cpu_features.h"
#include "../thread_pool.h"
#include "gemm_dot.h"
#include "gemm_pack.h"
#include "gemm_plan.h"
#include "gemm_small.h"
#include "microkernel.h"

namespace tf::cpu {
namespace {

constexpr double SMALL_BATCH_FLOPS = 2.0 * 64 * 64 * 64 * 64;  // per matrix: whole matrices per thread below this

// Rows split: compute units (groups of A slivers) and pack units (groups of B slivers) per step
// and thread, enough for a thread that finishes early to find work left.
constexpr int64_t ROW_UNITS_PER_THREAD = 16, PACK_UNITS_PER_THREAD = 4;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <typename T>
class AlignedBuffer {
public:
    ~AlignedBuffer() { std::free(ptr_); }
    T* get(size_t count) {
        if (count > capacity_) {
            std::free(ptr_);
            ptr_ = nullptr;
            capacity_ = 0;
            size_t bytes = (count * sizeof(T) + 63) / 64 * 64;
            ptr_ = static_cast<T*>(std::aligned_alloc(64, bytes));
            if (!ptr_) throw std::bad_alloc();
            capacity_ = count;
        }
        return ptr_;
    }

private:
    T* ptr_ = nullptr;
    size_t capacity_ = 0;
};

// The calling thread's scratch (the region's B panels and every thread's A block), allocated
// before the region starts so that nothing inside it can throw while a thread waits at a barrier.
template <typename T>
T* scratch_buffer(size_t count) {
    thread_local AlignedBuffer<T> buffer;
    return buffer.get(count);
}

template <typename T>
void store_tile(const T* tile, int nr, int64_t rows, int64_t cols, T alpha, T beta, bool first_k, T* c, int64_t ldc) {
    for (int64_t r = 0; r < rows; ++r) {
        T* crow = c + r * ldc;
        const T* t = tile + r * nr;
        if (!first_k) {
            for (int64_t j = 0; j < cols; ++j) crow[j] += alpha * t[j];
        } else if (beta == T(0)) {
            for (int64_t j = 0; j < cols; ++j) crow[j] = alpha * t[j];
        } else {
            for (int64_t j = 0; j < cols; ++j) crow[j] = alpha * t[j] + beta * crow[j];
        }
    }
}

template <typename T>
void scale_c(const GemmShape& s, T beta, T* c) {
    for (int64_t i = 0; i < s.m; ++i)
        for (int64_t j = 0; j < s.n; ++j) c[i * s.ldc + j] = beta == T(0) ? T(0) : beta * c[i * s.ldc + j];
}

template <typename T>
struct GemmCall {
    const GemmShape& s;
    T alpha, beta;
    const T* a;
    const T* b;
    T* c;
    GemmMicrokernel<T> uk;
};

// Rows of an A block for `rows` rows: about GEMM_MC, a multiple of MR, the blocks evened out.
int64_t block_rows(int64_t rows, int mr) {
    const int64_t slivers = ceil_div(rows, mr), blocks = ceil_div(slivers * mr, GEMM_MC);
    return ceil_div(slivers, blocks) * mr;
}

// C rows [r0, r1) x panel slivers [s0, s1) for the panel at columns jc, depth [pc, pc + kc),
// with packed B sliver s0 at `slivers` (pack_b's layout): packs A in blocks of
// block_rows(r1 - r0) rows into ablock and runs the microkernel over them.
template <typename T>
void multiply_panel(const GemmCall<T>& g, int64_t jc, int64_t pc, int64_t kc, const T* slivers, int64_t r0, int64_t r1,
                    int64_t s0, int64_t s1, T* ablock) {
    if (r0 >= r1 || s0 >= s1) return;
    const int mr = g.uk.mr, nr = g.uk.nr;
    const bool first_k = pc == 0;
    const int64_t mc = block_rows(r1 - r0, mr), ldc = g.s.ldc;
    alignas(64) T tile[GEMM_TILE_MAX];
    for (int64_t ic = r0; ic < r1; ic += mc) {
        const int64_t rows = std::min(mc, r1 - ic);
        pack_a(g.s, g.a, ic, rows, pc, kc, mr, ablock);
        for (int64_t ir = 0; ir < rows; ir += mr) {
            const int64_t live_rows = std::min<int64_t>(mr, rows - ir);
            const T* asl = ablock + ir * kc;
            for (int64_t sl = s0; sl < s1; ++sl) {
                const int64_t j = jc + sl * nr, cols = std::min<int64_t>(nr, g.s.n - j);
                const T* bsl = slivers + (sl - s0) * nr * kc;
                T* cdst = g.c + (ic + ir) * ldc + j;
                if (live_rows == mr && cols == nr) {
                    g.uk.run(kc, asl, bsl, cdst, ldc, g.alpha, g.beta, !first_k);
                } else if (cols == nr && g.uk.run_rows) {
                    g.uk.run_rows(kc, static_cast<int>(live_rows), asl, bsl, cdst, ldc, g.alpha, g.beta, !first_k);
                } else {
                    g.uk.run(kc, asl, bsl, tile, nr, T(1), T(0), false);
                    store_tile(tile, nr, live_rows, cols, g.alpha, g.beta, first_k, cdst, ldc);
                }
            }
        }
    }
}

// The whole product of g on the calling thread, its B slivers packed into `panel` (room for one
// panel of min(GEMM_NC, n) columns at depth kc_max).
template <typename T>
void multiply_alone(const GemmCall<T>& g, int64_t kc_max, T* panel, T* ablock) {
    const int nr = g.uk.nr;
    for (int64_t jc = 0; jc < g.s.n; jc += GEMM_NC) {
        const int64_t ncols = std::min(GEMM_NC, g.s.n - jc), slivers = ceil_div(ncols, nr);
        for (int64_t pc = 0; pc < g.s.k; pc += kc_max) {
            const int64_t kc = std::min(kc_max, g.s.k - pc);
            pack_b(g.s, g.b, jc, ncols, pc, kc, nr, 0, slivers, panel);
            multiply_panel(g, jc, pc, kc, panel, 0, g.s.m, 0, slivers, ablock);
        }
    }
}

// Depth split, thread tid of nt: the product over its share [k0, k1) of the depth, into C itself
// (thread 0, with beta) or into its own m x n partial buffer (the others, beta = 0; alpha is applied
// by every thread); then, after one barrier, each thread adds the partials into its share of C's rows.
template <typename T>
void multiply_depth_share(const GemmCall<T>& g, int tid, int nt, T* panel, T* ablock, T* partials,
                          SpinBarrier& barrier) {
    const GemmShape& s = g.s;
    const int64_t k0 = s.k * tid / nt, k1 = s.k * (tid + 1) / nt, plane = s.m * s.n;
    GemmShape mine = s;
    mine.k = k1 - k0;
    T* out = g.c;
    T beta = g.beta;
    if (tid > 0) {
        out = partials + (tid - 1) * plane;
        mine.ldc = s.n;
        beta = T(0);
    }
    if (mine.k == 0) {
        scale_c(mine, beta, out);
    } else {
        const T* a = g.a + (s.trans_a ? k0 * s.lda : k0);
        const T* b = g.b + (s.trans_b ? k0 : k0 * s.ldb);
        const GemmCall<T> part{mine, g.alpha, beta, a, b, out, g.uk};
        multiply_alone(part, ceil_div(mine.k, ceil_div(mine.k, GEMM_KC)), panel, ablock);
    }
    barrier.wait(nt);
    for (int64_t i = s.m * tid / nt; i < s.m * (tid + 1) / nt; ++i) {
        T* crow = g.c + i * s.ldc;
        for (int t = 1; t < nt; ++t) {
            const T* prow = partials + (t - 1) * plane + i * s.n;
            for (int64_t j = 0; j < s.n; ++j) crow[j] += prow[j];
        }
    }
}

// Shared progress of a rows split (multiply_rows_shared). Each step (a B panel at one depth
// range) has counters for its pack units (groups of B slivers) and compute units (groups of A
// slivers: rows of C) that the threads claim and complete; each compute unit also records how
// many steps of its rows are done, since a unit's rows must finish one step before the next.
struct alignas(64) StepProgress {
    std::atomic<int64_t> packs_claimed{0}, packs_done{0};
    alignas(64) std::atomic<int64_t> units_claimed{0}, units_done{0};
};

struct RowsProgress {
    // Sizes the counters for this product and zeroes them; the arrays only grow, so a thread that
    // issues many products allocates them once (rows_progress keeps one per calling thread).
    void reset(const GemmShape& s, int mr, int nr, int64_t kc_max, int threads) {
        unit_rows = std::clamp<int64_t>(ceil_div(s.m, mr) / (ROW_UNITS_PER_THREAD * threads), 1, GEMM_MC / mr) * mr;
        units = ceil_div(s.m, unit_rows);
        pack_slivers = std::max<int64_t>(1, ceil_div(std::min(GEMM_NC, s.n), nr) / (PACK_UNITS_PER_THREAD * threads));
        const int64_t nsteps = ceil_div(s.n, GEMM_NC) * ceil_div(s.k, kc_max);
        if (nsteps > step_capacity) steps.reset(new StepProgress[step_capacity = nsteps]);
        if (units > unit_capacity) unit_steps.reset(new std::atomic<int64_t>[unit_capacity = units]);
        for (int64_t i = 0; i < nsteps; ++i) {
            for (auto* c : {&steps[i].packs_claimed, &steps[i].packs_done, &steps[i].units_claimed, &steps[i].units_done})
                c->store(0, std::memory_order_relaxed);
        }
        for (int64_t u = 0; u < units; ++u) unit_steps[u].store(0, std::memory_order_relaxed);
    }
    int64_t unit_rows = 0, units = 0, pack_slivers = 0;
    std::unique_ptr<StepProgress[]> steps;
    std::unique_ptr<std::atomic<int64_t>[]> unit_steps;  // per compute unit: steps of its rows done
    int64_t step_capacity = 0, unit_capacity = 0;
};

RowsProgress& rows_progress() {
    thread_local RowsProgress progress;
    return progress;
}

// Rows split, one of the region's threads: over the steps (B panel jc, depth pc) in order, pack
// claimed groups of the step's B slivers into the panel buffer of its parity (once every unit of
// the step two back, which read that buffer, is done), wait until the whole panel is packed, then
// multiply claimed groups of A rows by it. Nothing is assigned in advance, so a thread that starts
// late or is held up leaves its share to the other ones instead of making them wait at a barrier;
// a thread only waits for data another one is still writing (a pack unit, or its rows' last step).
template <typename T>
void multiply_rows_shared(const GemmCall<T>& g, int64_t kc_max, T* panels, int64_t panel_stride, RowsProgress& p,
                          T* ablock) {
    const GemmShape& s = g.s;
    const int nr = g.uk.nr;
    int64_t step = 0;
    for (int64_t jc = 0; jc < s.n; jc += GEMM_NC) {
        const int64_t ncols = std::min(GEMM_NC, s.n - jc), slivers = ceil_div(ncols, nr);
        const int64_t packs = ceil_div(slivers, p.pack_slivers);
        for (int64_t pc = 0; pc < s.k; pc += kc_max, ++step) {
            const int64_t kc = std::min(kc_max, s.k - pc);
            StepProgress& sp = p.steps[step];
            T* panel = panels + (step % 2) * panel_stride;
            if (step >= 2) wait_until_at_least(p.steps[step - 2].units_done, p.units);
            for (int64_t u; (u = sp.packs_claimed.fetch_add(1, std::memory_order_relaxed)) < packs;) {
                const int64_t s0 = u * p.pack_slivers, s1 = std::min(slivers, s0 + p.pack_slivers);
                pack_b(s, g.b, jc, ncols, pc, kc, nr, s0, s1, panel + s0 * nr * kc);
                sp.packs_done.fetch_add(1, std::memory_order_release);
            }
            wait_until_at_least(sp.packs_done, packs);
            for (int64_t u; (u = sp.units_claimed.fetch_add(1, std::memory_order_relaxed)) < p.units;) {
                wait_until_at_least(p.unit_steps[u], step);
                const int64_t r0 = u * p.unit_rows, r1 = std::min(s.m, r0 + p.unit_rows);
                multiply_panel(g, jc, pc, kc, panel, r0, r1, 0, slivers, ablock);
                p.unit_steps[u].store(step + 1, std::memory_order_release);
                sp.units_done.fetch_add(1, std::memory_order_release);
            }
        }
    }
}

template <typename T>
void gemm_single(const GemmShape& s, T alpha, const T* a, const T* b, T beta, T* c, const GemmMicrokernel<T>& uk,
                 int max_threads) {
    if (s.m == 0 || s.n == 0) return;
    if (s.k == 0) return scale_c(s, beta, c);
    if constexpr (std::is_same_v<T, float>) {
        if (dot_path_applies(s)) return gemm_dot(s, alpha, a, b, beta, c, max_threads);
    }
    const int mr = uk.mr, nr = uk.nr;
    const GemmPlan plan = plan_gemm(s.m, s.n, s.k, mr, nr, max_threads);
    if constexpr (std::is_same_v<T, float>) {
        if (gemm_split_override() == 0 && small_path_applies(s, plan.threads)) return gemm_small(s, alpha, a, b, beta, c);
    }
    const int64_t kc_max = ceil_div(s.k, ceil_div(s.k, GEMM_KC));  // K steps evened out
    const int64_t panel_slivers = ceil_div(std::min(GEMM_NC, s.n), nr);
    // Rows split: two shared panels. Columns split: a region of ceil(slivers / nt) slivers per
    // thread (nt <= plan.threads threads run, so panel_slivers + plan.threads slivers hold them all).
    // Depth split: a whole panel per thread (its K steps are evened out over its own share of
    // the depth, so sized for GEMM_KC), and an m x n partial C per thread but the first.
    const bool rows = plan.split == GemmSplit::rows, depth = plan.split == GemmSplit::depth;
    const int64_t kc_room = depth ? std::min(GEMM_KC, s.k) : kc_max;
    const int64_t sliver_size = nr * kc_room;
    const int64_t b_size = (rows    ? 2 * panel_slivers
                            : depth ? plan.threads * panel_slivers
                                    : panel_slivers + plan.threads) * sliver_size;
    const int64_t ablock_size = (GEMM_MC / mr + 2) * mr * kc_room;  // >= block_rows(...) * kc
    const int64_t partials_size = depth ? (plan.threads - 1) * s.m * s.n : 0;
    T* scratch = scratch_buffer<T>(b_size + plan.threads * ablock_size + partials_size);
    const GemmCall<T> g{s, alpha, beta, a, b, c, uk};
    RowsProgress& progress = rows_progress();
    if (rows && plan.threads > 1) progress.reset(s, mr, nr, kc_max, plan.threads);
    SpinBarrier barrier;
    parallel_run(plan.threads, [&](int tid, int nt) {
        T* ablock = scratch + b_size + tid * ablock_size;
        if (depth) {
            T* partials = scratch + b_size + plan.threads * ablock_size;
            return multiply_depth_share(g, tid, nt, scratch + tid * panel_slivers * sliver_size, ablock, partials,
                                        barrier);
        }
        if (rows) {
            if (nt == 1) return multiply_alone(g, kc_max, scratch, ablock);
            return multiply_rows_shared(g, kc_max, scratch, panel_slivers * sliver_size, progress, ablock);
        }
        for (int64_t jc = 0; jc < s.n; jc += GEMM_NC) {
            const int64_t ncols = std::min(GEMM_NC, s.n - jc), slivers = ceil_div(ncols, nr);
            const int64_t s0 = slivers * tid / nt, s1 = slivers * (tid + 1) / nt;
            T* mine = scratch + tid * ceil_div(panel_slivers, nt) * sliver_size;
            for (int64_t pc = 0; pc < s.k; pc += kc_max) {
                const int64_t kc = std::min(kc_max, s.k - pc);
                pack_b(s, b, jc, ncols, pc, kc, nr, s0, s1, mine);
                multiply_panel(g, jc, pc, kc, mine, 0, s.m, s0, s1, ablock);
            }
        }
    });
}

// The ISA's wide kernel, or its narrow one when C has no more columns than the narrow tile.
GemmMicrokernel<float> microkernel_for(float, [[maybe_unused]] int64_t n) {
    switch (active_isa()) {
#if defined(TENSORFORGE_HAVE_X86_KERNELS)
        case Isa::avx512: return n <= 16 ? gemm_microkernel_f32_avx512_narrow() : gemm_microkernel_f32_avx512();
        case Isa::avx2: return n <= 8 ? gemm_microkernel_f32_avx2_narrow() : gemm_microkernel_f32_avx2();
#endif
        default: return gemm_microkernel_f32_baseline();
    }
}
GemmMicrokernel<double> microkernel_for(double, int64_t) { return gemm_microkernel_f64_baseline(); }

template <typename T>
void gemm_batched(const GemmShape& s, T alpha, const T* a, const T* b, T beta, T* c, const GemmBatch& batch) {
    const GemmMicrokernel<T> uk = microkernel_for(T(0), s.n);
    const int threads = get_num_threads();
    const bool per_matrix_threads = batch.count >= threads && 2.0 * s.m * s.n * s.k < SMALL_BATCH_FLOPS;
    if (threads > 1 && batch.count > 1 && per_matrix_threads) {
        parallel_for(batch.count, 1, [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i)
                gemm_single(s, alpha, a + i * batch.stride_a, b + i * batch.stride_b, beta, c + i * batch.stride_c, uk, 1);
        });
        return;
    }
    for (int64_t i = 0; i < batch.count; ++i)
        gemm_single(s, alpha, a + i * batch.stride_a, b + i * batch.stride_b, beta, c + i * batch.stride_c, uk, threads);
}

}  // namespace

GemmPlan gemm_plan_for_shape(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, int max_threads) {
    GemmShape s;
    s.m = m, s.n = n, s.k = k, s.trans_a = trans_a, s.trans_b = trans_b;
    if (dot_path_applies(s)) return {plan_dot_threads(m, n, k, max_threads), GemmSplit::dot};
    const GemmMicrokernel<float> uk = microkernel_for(0.0f, n);
    const GemmPlan plan = plan_gemm(m, n, k, uk.mr, uk.nr, max_threads);
    if (gemm_split_override() == 0 && small_path_applies(s, plan.threads)) return {1, GemmSplit::small};
    return plan;
}

void gemm(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c, const GemmBatch& batch) {
    gemm_batched(s, alpha, a, b, beta, c, batch);
}
void gemm(const GemmShape& s, double alpha, const double* a, const double* b, double beta, double* c,
          const GemmBatch& batch) {
    gemm_batched(s, alpha, a, b, beta, c, batch);
}

}  // namespace tf::cpu
