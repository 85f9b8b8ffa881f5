// GEMM thread plan: the cost model of gemm_plan.h. Costs are in multiply-adds of microkernel
// work (one packed value costs about kPack of them, and so on), for the busiest thread.
#include "gemm_plan.h"

#include <algorithm>
#include <atomic>

namespace tf::cpu {
namespace {

constexpr double kPack = 12;          // packing one value (read op(X), write the sliver)
constexpr double kRemote = 16;        // reading one value of a partial C another thread wrote
constexpr double kSharedPanel = 8;    // reading one value of a B panel another thread packed
constexpr double kBarrier = 40000;    // one barrier between the running threads of a region
constexpr double kStepWait = 4000;    // rows split: waiting at a K step for the panel's last packs
constexpr double kRegion = 60000;     // starting a region on idle-spinning workers and joining it
constexpr int64_t kMaxPartials = int64_t(4) << 20;  // values of the depth split's partial C buffers

std::atomic<int> split_override{0};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

double cost(int64_t m, int64_t n, int64_t k, int mr, int nr, int threads, GemmSplit split) {
    const int64_t row_slivers = ceil_div(m, mr), col_slivers = ceil_div(n, nr);
    const int64_t panels = ceil_div(n, GEMM_NC), steps = panels * ceil_div(k, GEMM_KC);
    const double kd = static_cast<double>(k);
    double work, packed, remote = 0, sync = 0;
    if (split == GemmSplit::rows) {
        // The threads claim rows and B slivers as they go (gemm.cpp), so the shares come out even.
        const double my_rows = double(row_slivers * mr) / threads;
        work = my_rows * double(col_slivers * nr) * kd;
        packed = (std::min(double(m), my_rows) * panels + double(col_slivers * nr) / threads) * kd;
        remote = double(n) * kd * (threads - 1) / threads * (kSharedPanel / kRemote);
        sync = threads > 1 ? kStepWait * double(steps) : 0;
    } else if (split == GemmSplit::depth) {
        const double my_k = double(ceil_div(k, threads));
        work = double(row_slivers * mr) * double(col_slivers * nr) * my_k;
        packed = (double(m) * panels + double(n)) * my_k;
        // Adding the other threads' partials into this thread's share of C's rows.
        remote = double(ceil_div(m, threads)) * double(n) * (threads - 1);
        sync = kBarrier;
    } else {
        const int64_t my_cols = ceil_div(col_slivers, threads) * nr;
        work = double(row_slivers * mr) * double(my_cols) * kd;
        packed = (double(m) * panels + double(std::min(n, my_cols))) * kd;
    }
    return work + kPack * packed + kRemote * remote + sync + (threads > 1 ? kRegion : 0);
}

}  // namespace

GemmPlan plan_gemm(int64_t m, int64_t n, int64_t k, int mr, int nr, int max_threads) {
    max_threads = std::max(1, max_threads);
    if (int mode = split_override.load(std::memory_order_relaxed))
        return {max_threads, mode == 1 ? GemmSplit::rows : mode == 2 ? GemmSplit::columns : GemmSplit::depth};
    GemmPlan best;
    double best_cost = cost(m, n, k, mr, nr, 1, GemmSplit::rows);
    for (int t = 2; t <= max_threads; ++t) {
        for (GemmSplit split : {GemmSplit::rows, GemmSplit::columns, GemmSplit::depth}) {
            if (split == GemmSplit::depth && double(t - 1) * double(m) * double(n) > double(kMaxPartials)) continue;
            const double c = cost(m, n, k, mr, nr, t, split);
            if (c < best_cost) {
                best_cost = c;
                best = {t, split};
            }
        }
    }
    return best;
}

int plan_dot_threads(int64_t m, int64_t n, int64_t k, int max_threads) {
    max_threads = std::max(1, max_threads);
    if (split_override.load(std::memory_order_relaxed)) return max_threads;
    // Per row: n dot products of k values, 16 per FMA, then about three vector operations per
    // output for the horizontal sums; in multiply-adds, 16 per vector operation.
    const double per_row = 16.0 * double(n) * double(ceil_div(k, 16) + 3);
    int best = 1;
    double best_cost = per_row * double(m);
    for (int t = 2; t <= max_threads; ++t) {
        const double c = per_row * double(ceil_div(m, t)) + kRegion;
        if (c < best_cost) {
            best_cost = c;
            best = t;
        }
    }
    return best;
}

void set_gemm_split_override(int mode) { split_override.store(mode, std::memory_order_relaxed); }
int gemm_split_override() { return split_override.load(std::memory_order_relaxed); }

}  // namespace tf::cpu
