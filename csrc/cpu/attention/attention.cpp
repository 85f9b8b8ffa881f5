// Fused scaled-dot-product attention on the CPU, flash style (see tensorforge/attention.h).
//
// Forward, one work item per (problem n, every chunks-th query tile of it): the item packs the
// problem's K and V once as GEMM-microkernel B operands (microkernel.h), then per query tile of
// about BQ rows (a multiple of the microkernel's MR; Q tile packed once as the A operand) and per
// block of BK keys (blocks wholly above the diagonal skipped when causal):
//     s = scale * Q_tile K_blk^T   microkernels straight into a BQ x BK buffer; when causal, the
//                                  MR x NR tiles above the diagonal are not computed
//     mask applied; online softmax per row: m' = max(m, max_j s), acc *= exp(m - m'),
//     l = l exp(m - m') + sum p, p = exp(s - m') (dropout applied to p here, not to l)
//     acc += p V_blk                p packed as the A operand; each MR-row sliver runs only over
//                                  the keys it can see
//   out = acc / l, lse = m + log l.
// Backward (FlashAttention-2 order), one work item per (n, chunk of key blocks): with
// D_i = dout_i . out_i computed by the item, for each key block (K and V packed once) and each
// query tile that can see it (Q and dout packed as A and B operands once per tile and block, or
// once per item when the item has several blocks and the packed tiles fit KEEP_TILES_BYTES), all
// on the GEMM microkernels:
//   s = scale Q K_blk^T and dp = dout V_blk^T (MR x NR tiles above the diagonal skipped),
//   p = exp(s - lse_i) recomputed, z = dropout keep / (1 - p_drop), ds = p (dp z - D) (one SIMD
//   row op without dropout),
//   dV_blk += (p z)^T dout, dK_blk += scale ds^T Q (each MR-key sliver only over the queries that
//   see it; padded per-block accumulators), dQ_tile += scale ds K_blk (a padded per-item dQ).
// dK/dV rows belong to one work item, which stores them. dQ accumulates per item in a padded
// buffer (L x E, linear in L) that is stored into dq when a problem is one work item; when there
// are fewer problems than threads, a problem's key blocks are split into chunks with a private dQ
// part each, summed at the end. Work items are handed out dynamically (causal tiles differ in
// cost). Forward buffers per thread: packed K and V of one problem (S x (E + Ev)), BQ x BK scores
// and p, a BQ x Ev accumulator; backward: the dQ buffer (and the kept tiles), otherwise block and
// tile sized; small ones are reused across calls (ThreadScratch). The per-row max and exp run on
// the SIMD path chosen at run time (row_ops.h), and so does the transposing operand packing
// (pack_ops.h).
#include <tensorforge/attention.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "../cpu_features.h"
#include "../gemm/microkernel.h"
#include "../thread_pool.h"
#include "pack_ops.h"
#include "row_ops.h"

namespace tf::cpu {
namespace {

// BK is a multiple of every GEMM microkernel's NR (32, 16, 8); the forward rounds its query tiles
// to the microkernel's MR. 96 x 192 measured best of 64x128, 128x128, 96x192 against torch in one
// process (2 cores).
constexpr int64_t BQ = 96;   // query rows per tile (about)
constexpr int64_t BK = 192;  // keys per block
// The backward keeps every query tile's packed Q and dout for a work item up to this size.
constexpr int64_t KEEP_TILES_BYTES = int64_t(4) << 20;

template <typename T>
AttentionRowOps<T> row_ops();

template <>
AttentionRowOps<float> row_ops<float>() {
    switch (active_isa()) {
#ifdef TENSORFORGE_HAVE_X86_KERNELS
        case Isa::avx512: return attention_row_ops_f32_avx512();
        case Isa::avx2: return attention_row_ops_f32_avx2();
#endif
        default: return attention_row_ops_f32_baseline();
    }
}

template <>
AttentionRowOps<double> row_ops<double>() {
    return attention_row_ops_f64_baseline();
}

template <typename T>
AttentionInterleaveRows<T> interleave_rows();

template <>
AttentionInterleaveRows<float> interleave_rows<float>() {
    switch (active_isa()) {
#ifdef TENSORFORGE_HAVE_X86_KERNELS
        case Isa::avx512:
        case Isa::avx2: return attention_interleave_rows_f32_avx2();
#endif
        default: return attention_interleave_rows_f32_baseline();
    }
}

template <>
AttentionInterleaveRows<double> interleave_rows<double>() {
    return attention_interleave_rows_f64_baseline();
}

template <typename T>
GemmMicrokernel<T> microkernel();

template <>
GemmMicrokernel<float> microkernel<float>() {
    switch (active_isa()) {
#ifdef TENSORFORGE_HAVE_X86_KERNELS
        case Isa::avx512: return gemm_microkernel_f32_avx512();
        case Isa::avx2: return gemm_microkernel_f32_avx2();
#endif
        default: return gemm_microkernel_f32_baseline();
    }
}

template <>
GemmMicrokernel<double> microkernel<double>() {
    return gemm_microkernel_f64_baseline();
}

// Hands out work items 0..count-1 to the pool's threads one at a time.
void run_dynamic(int64_t count, const std::function<void(int64_t item, int tid)>& fn) {
    std::atomic<int64_t> next{0};
    parallel_run(static_cast<int>(std::min<int64_t>(count, get_num_threads())), [&](int tid, int) {
        for (int64_t item = next++; item < count; item = next++) fn(item, tid);
    });
}

// Per-thread scratch of `count` values for the work items of one call, uninitialised. Up to
// KEEP_BYTES a thread reuses a buffer kept from earlier calls: a fresh allocation would be
// zero-filled and page-faulted on every call, which is a visible share of a small problem's time.
// Larger scratch (long sequences: it grows with L and S, never with L x S) lives for the call.
template <typename T>
class ThreadScratch {
public:
    ThreadScratch(int nthreads, int64_t count) : count_(static_cast<size_t>(count)), owned_(nthreads) {}
    T* get(int tid) {
        constexpr size_t KEEP_BYTES = size_t(4) << 20;
        thread_local std::unique_ptr<T[]> kept;
        thread_local size_t kept_count = 0;
        if (count_ * sizeof(T) > KEEP_BYTES) {
            if (!owned_[tid]) owned_[tid].reset(new T[count_]);
            return owned_[tid].get();
        }
        if (count_ > kept_count) {
            kept.reset(new T[count_]);
            kept_count = count_;
        }
        return kept.get();
    }

private:
    size_t count_;
    std::vector<std::unique_ptr<T[]>> owned_;
};

// Applies mask and causality to row i, keys [j0, j0 + n) of problem b: masked scores become -inf.
template <typename T>
void mask_row(const AttentionMask<T>& mask, int64_t b, int64_t i, int64_t j0, int64_t n, T* row) {
    const T ninf = -std::numeric_limits<T>::infinity();
    if (mask.additive) {
        const T* add = mask.additive + mask.batch_offset[b] + i * mask.row_stride + j0;
        for (int64_t j = 0; j < n; ++j) row[j] += add[j];
    } else if (mask.boolean) {
        const uint8_t* keep = mask.boolean + mask.batch_offset[b] + i * mask.row_stride + j0;
        for (int64_t j = 0; j < n; ++j)
            if (!keep[j]) row[j] = ninf;
    }
    if (mask.causal)
        for (int64_t j = std::max<int64_t>(i + 1 - j0, 0); j < n; ++j) row[j] = ninf;
}

// Keys [0, end) that any row of the query tile [i0, i0 + bq) may see.
int64_t key_end(const AttentionShape& s, bool causal, int64_t i0, int64_t bq) {
    return causal ? std::min(s.S, i0 + bq) : s.S;
}

// Packs rows [0, rows) of the row-major matrix a (row stride lda, `cols` columns) as a GEMM
// microkernel A operand: slivers of mr rows, each `cols` groups of mr values; rows from `rows` up
// to the next multiple of mr are zero.
template <typename T>
void pack_rows_as_a(const T* a, int64_t lda, int64_t rows, int64_t cols, int64_t mr, T* dst) {
    const AttentionInterleaveRows<T> interleave = interleave_rows<T>();
    for (int64_t i0 = 0; i0 < rows; i0 += mr) interleave(a + i0 * lda, lda, rows - i0, mr, cols, dst + i0 * cols);
}

// Packs the transpose of rows [0, rows_pad) of the row-major matrix a (row stride lda, `cols`
// columns) as a microkernel B operand: slivers of nr rows of a, each `cols` groups of nr values
// (sliver r0 at dst + r0 * cols); rows from `rows` on are zero. K as the B operand of Q K^T.
template <typename T>
void pack_transposed_as_b(const T* a, int64_t lda, int64_t rows, int64_t rows_pad, int64_t cols, int64_t nr, T* dst) {
    const AttentionInterleaveRows<T> interleave = interleave_rows<T>();
    for (int64_t r0 = 0; r0 < rows_pad; r0 += nr) interleave(a + r0 * lda, lda, rows - r0, nr, cols, dst + r0 * cols);
}

// Copies `count` runs of W values, run i from a + i * lda to d + i * W. W is a compile-time
// constant, so a run is a few vector moves rather than a memmove call.
template <int W, typename T>
void copy_runs_fixed(const T* a, int64_t lda, int64_t count, T* d) {
    for (int64_t i = 0; i < count; ++i, a += lda, d += W)
        for (int c = 0; c < W; ++c) d[c] = a[c];
}

// copy_runs_fixed for the run widths the microkernels use (every MR and NR), a loop otherwise.
template <typename T>
void copy_runs(const T* a, int64_t lda, int64_t count, int64_t w, T* d) {
    switch (w) {
        case 4: return copy_runs_fixed<4>(a, lda, count, d);
        case 6: return copy_runs_fixed<6>(a, lda, count, d);
        case 8: return copy_runs_fixed<8>(a, lda, count, d);
        case 12: return copy_runs_fixed<12>(a, lda, count, d);
        case 16: return copy_runs_fixed<16>(a, lda, count, d);
        case 24: return copy_runs_fixed<24>(a, lda, count, d);
        case 32: return copy_runs_fixed<32>(a, lda, count, d);
        default:
            for (int64_t i = 0; i < count; ++i) std::copy(a + i * lda, a + i * lda + w, d + i * w);
    }
}

// Packs rows [0, rows_pad) of the row-major matrix a (row stride lda, `cols` columns) as a
// microkernel B operand: slivers of nr columns, each rows_pad groups of nr values (sliver c0 at
// dst + c0 * rows_pad, so a run of rows of a sliver is contiguous); rows from `rows` on and
// columns from `cols` to the next multiple of nr are zero. V as the B operand of P V.
template <typename T>
void pack_rows_as_b(const T* a, int64_t lda, int64_t rows, int64_t rows_pad, int64_t cols, int64_t nr, T* dst) {
    for (int64_t c0 = 0; c0 < cols; c0 += nr) {
        const int64_t live = std::min(nr, cols - c0);
        T* d = dst + c0 * rows_pad;
        if (live == nr) {
            copy_runs(a + c0, lda, rows, nr, d);
        } else {
            for (int64_t i = 0; i < rows; ++i) {
                std::copy(a + i * lda + c0, a + i * lda + c0 + live, d + i * nr);
                std::fill(d + i * nr + live, d + i * nr + nr, T(0));
            }
        }
        std::fill(d + rows * nr, d + rows_pad * nr, T(0));
    }
}

// Query rows per tile: about BQ, a multiple of mr, tiles of nearly equal size.
int64_t query_tile_rows(int64_t L, int64_t mr) {
    const int64_t tiles = std::max<int64_t>(1, (L + BQ - 1) / BQ);
    const int64_t rows = (L + tiles - 1) / tiles;
    return (rows + mr - 1) / mr * mr;
}

template <typename T>
void forward(const AttentionShape& s, T scale, const T* q, const T* k, const T* v, const AttentionMask<T>& mask,
             const AttentionDropout& drop, T* out, T* lse) {
    const AttentionRowOps<T> ops = row_ops<T>();
    const GemmMicrokernel<T> uk = microkernel<T>();
    const int64_t mr = uk.mr, nr = uk.nr;
    const int64_t bq_max = query_tile_rows(s.L, mr), tiles = (s.L + bq_max - 1) / bq_max;
    const int64_t ev_pad = (s.Ev + nr - 1) / nr * nr;
    const int nthreads = get_num_threads();
    // A work item is a problem's tiles c, c + chunks, c + 2 chunks, ...: enough items to balance the
    // threads, few enough that packing a problem's K and V once per item stays cheap.
    const int64_t chunks = std::min(tiles, (4 * nthreads + s.batch - 1) / s.batch);
    const T ninf = -std::numeric_limits<T>::infinity();
    const T keep_scale = drop.p > 0 ? T(1 / (1 - drop.p)) : T(1);
    const int64_t s_pad = (s.S + nr - 1) / nr * nr;
    ThreadScratch<T> scratch(nthreads, s_pad * (s.E + ev_pad) + bq_max * (s.E + 2 * BK + ev_pad + 2));
    run_dynamic(s.batch * chunks, [&](int64_t item, int tid) {
        const int64_t b = item / chunks, chunk = item % chunks;
        const int64_t last_tile = chunk + (tiles - 1 - chunk) / chunks * chunks;
        const int64_t keys = key_end(s, mask.causal, last_tile * bq_max, std::min(bq_max, s.L - last_tile * bq_max));
        const int64_t keys_pad = (keys + nr - 1) / nr * nr;
        T* kb = scratch.get(tid);            // K packed for Q K^T
        T* vb = kb + keys_pad * s.E;         // V packed for P V
        T* qa = vb + keys_pad * ev_pad;      // Q tile packed as the A operand
        T* sc = qa + bq_max * s.E;           // scores, then p, row-major bq_max x BK
        T* pa = sc + bq_max * BK;            // p packed as the A operand
        T* acc = pa + bq_max * BK;           // bq_max x ev_pad
        T* mx = acc + bq_max * ev_pad;
        T* l = mx + bq_max;
        pack_transposed_as_b(k + b * s.S * s.E, s.E, keys, keys_pad, s.E, nr, kb);
        pack_rows_as_b(v + b * s.S * s.Ev, s.Ev, keys, keys_pad, s.Ev, nr, vb);
        for (int64_t tile = chunk; tile < tiles; tile += chunks) {
            const int64_t i0 = tile * bq_max, bq = std::min(bq_max, s.L - i0);
            const int64_t slivers = (bq + mr - 1) / mr;
            pack_rows_as_a(q + (b * s.L + i0) * s.E, s.E, bq, s.E, mr, qa);
            std::fill(acc, acc + slivers * mr * ev_pad, T(0));
            std::fill(mx, mx + bq, ninf);
            std::fill(l, l + bq, T(0));
            const int64_t kend = key_end(s, mask.causal, i0, bq);
            for (int64_t j0 = 0; j0 < kend; j0 += BK) {
                const int64_t bk = std::min(BK, kend - j0), bk_pad = (bk + nr - 1) / nr * nr;
                // Keys of the block that row sliver sl can see (causal: up to its last row).
                auto seen = [&](int64_t sl) { return mask.causal ? std::min(bk, i0 + sl * mr + mr - j0) : bk; };
                for (int64_t sl = 0; sl < slivers; ++sl)
                    for (int64_t c0 = 0; c0 < bk_pad; c0 += nr) {
                        T* dst = sc + sl * mr * BK + c0;
                        if (c0 < seen(sl))
                            uk.run(s.E, qa + sl * s.E * mr, kb + (j0 + c0) * s.E, dst, BK, scale, T(0), false);
                    }
                for (int64_t r = 0; r < bq; ++r) {
                    const int64_t i = i0 + r;
                    T* row = sc + r * BK;
                    const int64_t n = mask.causal ? std::max<int64_t>(0, std::min(bk, i + 1 - j0)) : bk;
                    mask_row(mask, b, i, j0, n, row);
                    const T m_new = std::max(mx[r], n > 0 ? ops.row_max(row, n) : ninf);
                    if (m_new == ninf) {  // nothing to attend to in this row so far
                        std::fill(row, row + bk_pad, T(0));
                        continue;
                    }
                    const T alpha = std::exp(mx[r] - m_new);
                    l[r] = l[r] * alpha + ops.exp_shifted_sum(row, m_new, row, n);
                    std::fill(row + n, row + bk_pad, T(0));
                    mx[r] = m_new;
                    if (alpha != T(1))
                        for (T *a = acc + r * ev_pad, *e = a + s.Ev; a < e; ++a) *a *= alpha;
                    if (drop.p > 0)
                        for (int64_t j = 0; j < n; ++j)
                            row[j] *= attention_dropout_keep(drop, s, b, i, j0 + j) ? keep_scale : T(0);
                }
                pack_rows_as_a(sc, BK, bq, bk_pad, mr, pa);
                for (int64_t sl = 0; sl < slivers; ++sl) {
                    if (seen(sl) <= 0) continue;
                    for (int64_t e0 = 0; e0 < ev_pad; e0 += nr)
                        uk.run(seen(sl), pa + sl * bk_pad * mr, vb + e0 * keys_pad + j0 * nr, acc + sl * mr * ev_pad + e0,
                               ev_pad, T(1), T(1), true);
                }
            }
            for (int64_t r = 0; r < bq; ++r) {
                T* o = out + (b * s.L + i0 + r) * s.Ev;
                const T inv = l[r] > 0 ? T(1) / l[r] : T(0);
                for (int64_t e = 0; e < s.Ev; ++e) o[e] = acc[r * ev_pad + e] * inv;
                lse[b * s.L + i0 + r] = l[r] > 0 ? mx[r] + std::log(l[r]) : std::numeric_limits<T>::infinity();
            }
        }
    });
}

// Packs the transpose of rows [0, rows) x columns [0, cols_pad) of the row-major matrix a (row
// stride lda) as a microkernel A operand: slivers of mr columns of a, each `rows` groups of mr
// values (cols_pad a multiple of mr).
template <typename T>
void pack_transposed_as_a(const T* a, int64_t lda, int64_t rows, int64_t cols_pad, int64_t mr, T* dst) {
    for (int64_t c0 = 0; c0 < cols_pad; c0 += mr) copy_runs(a + c0, lda, rows, mr, dst + c0 * rows);
}

// a . b over n values, in eight independent partial sums (so the compiler can vectorise it).
template <typename T>
T dot(const T* a, const T* b, int64_t n) {
    T part[8] = {};
    int64_t e = 0;
    for (; e + 8 <= n; e += 8)
        for (int u = 0; u < 8; ++u) part[u] += a[e + u] * b[e + u];
    T sum = 0;
    for (; e < n; ++e) sum += a[e] * b[e];
    for (int u = 0; u < 8; ++u) sum += part[u];
    return sum;
}

// Copies the rows x cols block of the padded accumulator (row stride ld) to dst (row stride ldd).
template <typename T>
void store_block(const T* acc, int64_t ld, int64_t rows, int64_t cols, T* dst, int64_t ldd) {
    for (int64_t i = 0; i < rows; ++i) std::copy(acc + i * ld, acc + i * ld + cols, dst + i * ldd);
}

template <typename T>
void backward(const AttentionShape& s, T scale, const T* q, const T* k, const T* v, const AttentionMask<T>& mask,
              const AttentionDropout& drop, const T* out, const T* lse, const T* dout, T* dq, T* dk, T* dv,
              T* dmask) {
    const AttentionRowOps<T> ops = row_ops<T>();
    const GemmMicrokernel<T> uk = microkernel<T>();
    const int64_t mr = uk.mr, nr = uk.nr;
    const int nthreads = get_num_threads();
    const T keep_scale = drop.p > 0 ? T(1 / (1 - drop.p)) : T(1);
    const int64_t bq_max = query_tile_rows(s.L, mr), tiles = (s.L + bq_max - 1) / bq_max;
    const int64_t e_pad = (s.E + nr - 1) / nr * nr, ev_pad = (s.Ev + nr - 1) / nr * nr;
    const int64_t l_pad = tiles * bq_max;
    const int64_t blocks = (s.S + BK - 1) / BK;
    const int64_t chunks = s.batch >= nthreads ? 1 : std::min<int64_t>(blocks, (nthreads + s.batch - 1) / s.batch);
    const int64_t per_chunk = (blocks + chunks - 1) / chunks;

    if (dmask) std::fill(dmask, dmask + s.batch * s.L * s.S, T(0));
    // Every key block's dK and dV rows, and (one item per problem) every dQ row, are stored once
    // by the item that owns them; a problem split into chunks stores a private dQ per chunk,
    // summed at the end.
    std::unique_ptr<T[]> dq_parts(chunks > 1 ? new T[s.batch * chunks * s.L * s.E] : nullptr);

    // A query tile's Q and dout packed as A and as B operands. An item that visits the tiles for
    // several key blocks keeps every tile's packing from its first block when that is small
    // enough, instead of packing each tile again per block.
    const int64_t tile_ops = bq_max * (s.E + s.Ev + e_pad + ev_pad);
    const bool keep_tiles = per_chunk > 1 && tiles * tile_ops * int64_t(sizeof(T)) <= KEEP_TILES_BYTES;
    ThreadScratch<T> scratch(nthreads, l_pad * e_pad + BK * (s.E + s.Ev + 2 * e_pad + ev_pad) +
                                           (keep_tiles ? tiles : 1) * tile_ops + 4 * bq_max * BK + s.L);
    run_dynamic(s.batch * chunks, [&](int64_t item, int tid) {
        T* dq_acc = scratch.get(tid);       // l_pad x e_pad
        T* kb = dq_acc + l_pad * e_pad;     // K block as B of Q K^T
        T* vtb = kb + BK * s.E;             // V block as B of dout V^T
        T* kvb = vtb + BK * s.Ev;           // K block as B of ds K
        T* dk_acc = kvb + BK * e_pad;       // BK x e_pad
        T* dv_acc = dk_acc + BK * e_pad;    // BK x ev_pad
        T* tile_buf = dv_acc + BK * ev_pad; // packed Q and dout of one tile, or of every tile
        T* p = tile_buf + (keep_tiles ? tiles : 1) * tile_ops;  // bq_max x BK, row-major
        T* dp = p + bq_max * BK;            // bq_max x BK, then ds
        T* pt = dp + bq_max * BK;           // p^T or ds^T as A (key slivers)
        T* dsa = pt + bq_max * BK;          // ds as A (query slivers)
        T* delta = dsa + bq_max * BK;       // D_i = dout_i . out_i of the problem's rows
        const int64_t b = item / chunks, chunk = item % chunks;
        const T* qb = q + b * s.L * s.E;
        const T* dob_src = dout + b * s.L * s.Ev;
        for (int64_t i = 0; i < s.L; ++i) delta[i] = dot(dob_src + i * s.Ev, out + (b * s.L + i) * s.Ev, s.Ev);
        std::fill(dq_acc, dq_acc + l_pad * e_pad, T(0));
        const int64_t first_blk = chunk * per_chunk;
        for (int64_t blk = first_blk; blk < std::min(blocks, (chunk + 1) * per_chunk); ++blk) {
            const int64_t j0 = blk * BK, bk = std::min(BK, s.S - j0);
            const int64_t bk_pad = (bk + nr - 1) / nr * nr, bk_a = (bk + mr - 1) / mr * mr;
            const int64_t bk_z = std::max(bk_pad, bk_a);  // columns of p and ds that must be valid
            pack_transposed_as_b(k + (b * s.S + j0) * s.E, s.E, bk, bk_pad, s.E, nr, kb);
            pack_transposed_as_b(v + (b * s.S + j0) * s.Ev, s.Ev, bk, bk_pad, s.Ev, nr, vtb);
            pack_rows_as_b(k + (b * s.S + j0) * s.E, s.E, bk, bk, s.E, nr, kvb);
            std::fill(dk_acc, dk_acc + bk_a * e_pad, T(0));
            std::fill(dv_acc, dv_acc + bk_a * ev_pad, T(0));
            for (int64_t tile = mask.causal ? std::min(j0, s.L) / bq_max : 0; tile < tiles; ++tile) {
                const int64_t i0 = tile * bq_max, bq = std::min(bq_max, s.L - i0);
                if (bq <= 0) break;
                const int64_t slivers = (bq + mr - 1) / mr;
                auto seen = [&](int64_t sl) { return mask.causal ? std::min(bk, i0 + sl * mr + mr - j0) : bk; };
                T* qa = tile_buf + (keep_tiles ? tile : 0) * tile_ops;  // Q tile as A
                T* doa = qa + bq_max * s.E;                              // dout tile as A
                T* qbm = doa + bq_max * s.Ev;                            // Q tile as B (of ds^T Q)
                T* dob = qbm + bq_max * e_pad;                           // dout tile as B (of p^T dout)
                if (!keep_tiles || blk == first_blk) {
                    pack_rows_as_a(qb + i0 * s.E, s.E, bq, s.E, mr, qa);
                    pack_rows_as_a(dob_src + i0 * s.Ev, s.Ev, bq, s.Ev, mr, doa);
                    pack_rows_as_b(qb + i0 * s.E, s.E, bq, bq, s.E, nr, qbm);
                    pack_rows_as_b(dob_src + i0 * s.Ev, s.Ev, bq, bq, s.Ev, nr, dob);
                }
                for (int64_t sl = 0; sl < slivers; ++sl)
                    for (int64_t c0 = 0; c0 < seen(sl); c0 += nr) {
                        uk.run(s.E, qa + sl * s.E * mr, kb + c0 * s.E, p + sl * mr * BK + c0, BK, scale, T(0), false);
                        uk.run(s.Ev, doa + sl * s.Ev * mr, vtb + c0 * s.Ev, dp + sl * mr * BK + c0, BK, T(1), T(0),
                               false);
                    }
                for (int64_t r = 0; r < bq; ++r) {
                    const int64_t i = i0 + r;
                    T* prow = p + r * BK;
                    T* dprow = dp + r * BK;
                    const int64_t n = mask.causal ? std::max<int64_t>(0, std::min(bk, i + 1 - j0)) : bk;
                    mask_row(mask, b, i, j0, n, prow);
                    const T lse_i = lse[b * s.L + i], d = delta[i];
                    if (drop.p > 0) {
                        ops.exp_shifted_sum(prow, lse_i, prow, n);
                        for (int64_t j = 0; j < n; ++j) {
                            const T z = attention_dropout_keep(drop, s, b, i, j0 + j) ? keep_scale : T(0);
                            const T pj = prow[j];
                            prow[j] = pj * z;
                            dprow[j] = pj * (dprow[j] * z - d);
                        }
                        std::fill(prow + n, prow + bk_z, T(0));
                        std::fill(dprow + n, dprow + bk_z, T(0));
                    } else {
                        ops.softmax_grad(prow, dprow, lse_i, d, n, bk_z);
                    }
                    if (dmask) std::copy(dprow, dprow + bk, dmask + (b * s.L + i) * s.S + j0);
                }
                // dV_blk += p^T dout, dK_blk += scale ds^T Q: key slivers of mr, each over the
                // queries that can see them.
                pack_transposed_as_a(p, BK, bq, bk_a, mr, pt);
                for (int64_t ks = 0; ks < bk_a; ks += mr) {
                    const int64_t first = mask.causal ? std::clamp<int64_t>(j0 + ks - i0, 0, bq) : 0;
                    if (first == bq) continue;
                    for (int64_t e0 = 0; e0 < ev_pad; e0 += nr)
                        uk.run(bq - first, pt + ks * bq + first * mr, dob + e0 * bq + first * nr,
                               dv_acc + ks * ev_pad + e0, ev_pad, T(1), T(1), true);
                }
                pack_transposed_as_a(dp, BK, bq, bk_a, mr, pt);
                for (int64_t ks = 0; ks < bk_a; ks += mr) {
                    const int64_t first = mask.causal ? std::clamp<int64_t>(j0 + ks - i0, 0, bq) : 0;
                    if (first == bq) continue;
                    for (int64_t e0 = 0; e0 < e_pad; e0 += nr)
                        uk.run(bq - first, pt + ks * bq + first * mr, qbm + e0 * bq + first * nr,
                               dk_acc + ks * e_pad + e0, e_pad, scale, T(1), true);
                }
                // dQ_tile += scale ds K_blk.
                pack_rows_as_a(dp, BK, bq, bk_pad, mr, dsa);
                for (int64_t sl = 0; sl < slivers; ++sl) {
                    if (seen(sl) <= 0) continue;
                    for (int64_t e0 = 0; e0 < e_pad; e0 += nr)
                        uk.run(seen(sl), dsa + sl * bk_pad * mr, kvb + e0 * bk, dq_acc + (i0 + sl * mr) * e_pad + e0,
                               e_pad, scale, T(1), true);
                }
            }
            store_block(dk_acc, e_pad, bk, s.E, dk + (b * s.S + j0) * s.E, s.E);
            store_block(dv_acc, ev_pad, bk, s.Ev, dv + (b * s.S + j0) * s.Ev, s.Ev);
        }
        store_block(dq_acc, e_pad, s.L, s.E, chunks > 1 ? dq_parts.get() + item * s.L * s.E : dq + b * s.L * s.E, s.E);
    });
    if (chunks > 1)
        parallel_for(s.batch * s.L * s.E, 4096, [&](int64_t e0, int64_t e1) {
            const int64_t part = s.L * s.E;
            for (int64_t e = e0; e < e1; ++e) {
                const int64_t b = e / part, off = e % part;
                T sum = 0;
                for (int64_t c = 0; c < chunks; ++c) sum += dq_parts[(b * chunks + c) * part + off];
                dq[e] = sum;
            }
        });
}

}  // namespace

void attention_forward(const AttentionShape& s, float scale, const float* q, const float* k, const float* v,
                       const AttentionMask<float>& mask, const AttentionDropout& drop, float* out, float* lse) {
    forward(s, scale, q, k, v, mask, drop, out, lse);
}
void attention_forward(const AttentionShape& s, double scale, const double* q, const double* k, const double* v,
                       const AttentionMask<double>& mask, const AttentionDropout& drop, double* out, double* lse) {
    forward(s, scale, q, k, v, mask, drop, out, lse);
}
void attention_backward(const AttentionShape& s, float scale, const float* q, const float* k, const float* v,
                        const AttentionMask<float>& mask, const AttentionDropout& drop, const float* out,
                        const float* lse, const float* dout, float* dq, float* dk, float* dv, float* dmask) {
    backward(s, scale, q, k, v, mask, drop, out, lse, dout, dq, dk, dv, dmask);
}
void attention_backward(const AttentionShape& s, double scale, const double* q, const double* k, const double* v,
                        const AttentionMask<double>& mask, const AttentionDropout& drop, const double* out,
                        const double* lse, const double* dout, double* dq, double* dk, double* dv,
                        double* dmask) {
    backward(s, scale, q, k, v, mask, drop, out, lse, dout, dq, dk, dv, dmask);
}

}  // namespace tf::cpu
