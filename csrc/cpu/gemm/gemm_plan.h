// How one GEMM is shared between threads, chosen from its shape by a small cost model.
//
// The driver (gemm.cpp) runs the whole product in one parallel region and splits C one way:
//   rows:    each thread owns a contiguous range of MR-row slivers of C and packs its own A
//            blocks; the threads pack each B panel together (a share of its slivers each) and
//            meet at one barrier per panel before reading it.
//   columns: each thread owns a contiguous range of NR-column slivers, packs those B slivers
//            itself and packs all of A (A is packed once per thread): no barrier at all.
//   depth:   each thread computes the whole of C over its share of K, thread 0 into C and the
//            others into m x n partial buffers, then (one barrier) each adds the partials into a
//            share of C's rows: for a long K and a C too small to split (weight gradients).
// plan_gemm estimates the busiest thread's time for 1..max_threads threads and each split
// (padded microkernel work, packing, the other threads' packed B or partial C it must fetch,
// barriers and the region's start-up, constants measured on the machine of BENCHMARKS.md) and
// takes the cheapest, so a small product stays on one thread; the depth split only while its
// partial buffers stay under 16 MiB.
#pragma once
#include <cstdint>

namespace tf::cpu {

constexpr int64_t GEMM_KC = 384;    // depth of a packed panel
constexpr int64_t GEMM_MC = 120;    // rows of a packed A block (about; blocks are evened out)
constexpr int64_t GEMM_NC = 3072;   // columns of a packed B panel (a multiple of every NR)

// dot: the dot-kernel path for few columns (gemm_dot.h), rows split, nothing shared.
// small: the unpacked kernel for tiny products (gemm_small.h), one thread.
enum class GemmSplit { rows, columns, dot, depth, small };

struct GemmPlan {
    int threads = 1;
    GemmSplit split = GemmSplit::rows;
};

GemmPlan plan_gemm(int64_t m, int64_t n, int64_t k, int mr, int nr, int max_threads);

// Threads for the dot-kernel path (gemm_dot.h), which splits rows and shares nothing.
int plan_dot_threads(int64_t m, int64_t n, int64_t k, int max_threads);

// The plan of a float32 m x n x k product (A, B transposed or not) on the active SIMD path (gemm.cpp).
GemmPlan gemm_plan_for_shape(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, int max_threads);

// Testing hook (exposed to Python): 0 = use the cost model, 1 = always split rows over all
// max_threads threads, 2 = always split columns over all of them, 3 = always split the depth
// (forcing a split also turns the one-thread small path off).
void set_gemm_split_override(int mode);
int gemm_split_override();

}  // namespace tf::cpu
