// conv2d grad-weight: dw_g (O x K) = sum over images and pixels of dy_g (O x P) @ col_g^T (P x K),
// K = c_in/groups * kh * kw, O = c_out/groups, P = oh * ow, on the rows microkernels
// (rows_microkernel.h), which read their A operand in place as MR rows along the pixels.
//
// Work items are blocks of up to DB pixels (of one image, or consecutive images when only the
// im2col rows are read in place), split evenly across the thread pool;
// each thread accumulates its own result. Per item and group, the im2col rows of the block are
// produced into an L2-resident buffer (runs copied from input rows, zeros for padding taps), and
// the operand with fewer rows is transposed into NR-wide packed slivers (its cost, rows * DB, is
// shared by all rows of the other operand, which is read in place):
//   acc_g^T (K x O) = col rows @ packed dy^T, KB col rows at a time   (3x3 and most layers)
//   acc_g   (O x K) = dy rows  @ packed col^T                         (1x1 expansions)
// whichever a cost model of padded tiles plus packing prefers.
// Full tiles go straight into the thread's accumulator, ragged edges through a scratch tile. At
// the end the per-thread accumulators are summed (and transposed where needed) into dw (OIHW).
#include "grad_weight.h"

#include <algorithm>
#include <vector>

#include "../thread_pool.h"
#include "conv_scratch.h"
#include "../pack_transposed.h"
#include "rows_microkernel.h"
#include "tap_run.h"

namespace tf::cpu {
namespace {

constexpr int64_t DB = 256;  // pixels per item (a packed dy^T sliver of DB x NR floats fits L1)

struct Plan {
    int64_t o, k, p, groups, kb, blocks_per_image, items;  // items: DB-pixel blocks (see item_pieces)
    int mr, nr;
    bool dy_rows;  // dy rows are the in-place A operand and col is packed (else the reverse)
    int64_t m() const { return dy_rows ? o : k; }  // rows of the per-group accumulator
    int64_t n() const { return dy_rows ? k : o; }  // its columns (the packed operand's rows)
    int64_t nsl() const { return (n() + nr - 1) / nr; }
};

// dst (rows x len, row stride ld) = im2col rows [row0, row0 + rows) of image xb for output pixels [pix0, pix0 + len).
template <typename T>
void im2col_block(const Conv2dShape& s, const T* xb, int64_t row0, int64_t rows, int64_t pix0, int64_t len, T* dst,
                  int64_t ld) {
    const int64_t taps = s.kh * s.kw;
    for (int64_t rr = 0; rr < rows; ++rr, dst += ld) {
        const int64_t row = row0 + rr, c = row / taps, p = (row % taps) / s.kw, q = row % s.kw;
        const T* plane = xb + c * s.h * s.w;
        for (int64_t t = 0; t < len;) {
            const int64_t pix = pix0 + t, i = pix / s.ow, j = pix % s.ow, run = std::min(s.ow - j, len - t);
            const int64_t r = i * s.stride_h - s.pad_h + p * s.dil_h;
            if (r < 0 || r >= s.h) std::fill(dst + t, dst + t + run, T(0));
            else copy_tap_run(plane + r * s.w, j * s.stride_w - s.pad_w + q * s.dil_w, s.stride_w, s.w, run, dst + t);
            t += run;
        }
    }
}

// Cycles per pixel of acc (m x n) = A rows (m, in place) @ packed (n rows): microkernel tiles (MR*NR/16
// vector FMAs per pixel each, padding included) plus about one cycle per packed value.
double operand_cost(int64_t m, int64_t n, int mr, int nr) {
    return double((m + mr - 1) / mr) * double((n + nr - 1) / nr) * mr * nr / 16.0 + double(n);
}

// acc (m x n, row stride n) += or = A (m x len: rows in place, stride lda) @ packed (len x n slivers).
template <typename T>
void multiply(const Plan& pl, const RowsMicrokernel<T>& uk, const T* a, int64_t lda, int64_t m, int64_t len,
              const T* packed, bool first, T* acc) {
    alignas(64) T tile[12 * 32];
    T* padded = conv_scratch<23, T>(size_t(pl.mr * len));
    const int64_t n = pl.n();
    for (int64_t ir = 0; ir < m; ir += pl.mr) {
        const int64_t live_rows = std::min<int64_t>(pl.mr, m - ir);
        const T* arows = a + ir * lda;
        int64_t ld = lda;
        if (live_rows < pl.mr) {  // a ragged last group of rows: copy it next to zero rows
            for (int64_t r = 0; r < pl.mr; ++r)
                for (int64_t d = 0; d < len; ++d) padded[r * len + d] = r < live_rows ? arows[r * lda + d] : T(0);
            arows = padded, ld = len;
        }
        const T* rows[12];
        for (int r = 0; r < pl.mr; ++r) rows[r] = arows + r * ld;
        for (int64_t sl = 0; sl < pl.nsl(); ++sl) {
            const T* bsl = packed + sl * len * pl.nr;
            T* c = acc + ir * n + sl * pl.nr;
            const int64_t live_cols = std::min<int64_t>(pl.nr, n - sl * pl.nr);
            if (live_rows == pl.mr && live_cols == pl.nr) {
                uk.run(1, len, 0, rows, bsl, c, n, !first);
                continue;
            }
            uk.run(1, len, 0, rows, bsl, tile, pl.nr, false);
            for (int64_t r = 0; r < live_rows; ++r)
                for (int64_t j = 0; j < live_cols; ++j)
                    c[r * n + j] = first ? tile[r * pl.nr + j] : c[r * n + j] + tile[r * pl.nr + j];
        }
    }
}

// A run of an item's pixels inside one image: image b, pixels [pix0, pix0 + len), at offset `at` of the block.
struct Piece {
    int64_t b, pix0, len, at;
};

// The pixels of one item. With col rows in place the block's columns may span images (small late
// layers then still get long microkernel runs); dy rows are read in place, so there a block stays
// inside one image.
void item_pieces(const Plan& pl, int64_t n, int64_t item, std::vector<Piece>& out) {
    out.clear();
    if (pl.dy_rows) {
        const int64_t b = item / pl.blocks_per_image, pix0 = (item % pl.blocks_per_image) * DB;
        out.push_back({b, pix0, std::min(DB, pl.p - pix0), 0});
        return;
    }
    const int64_t c0 = item * DB, c1 = std::min(n * pl.p, c0 + DB);
    for (int64_t c = c0; c < c1;) {
        const int64_t b = c / pl.p, pix0 = c % pl.p, len = std::min(pl.p - pix0, c1 - c);
        out.push_back({b, pix0, len, c - c0});
        c += len;
    }
}

template <typename T>
void run_item(const Conv2dShape& s, const Plan& pl, const RowsMicrokernel<T>& uk, const T* x, const T* dy,
              int64_t item, bool first, T* acc) {
    thread_local std::vector<Piece> pieces;
    item_pieces(pl, s.n, item, pieces);
    const int64_t len = pieces.back().at + pieces.back().len;
    T* packed = conv_scratch<20, T>(size_t(pl.nsl() * pl.nr * DB));
    for (int64_t g = 0; g < pl.groups; ++g) {
        T* accg = acc + g * pl.m() * pl.n();
        if (pl.dy_rows) {  // acc_g (O x K) = dy rows @ col^T, one piece
            const Piece& pc = pieces[0];
            T* col = conv_scratch<21, T>(size_t(pl.k * DB));
            im2col_block(s, x + pc.b * s.c_in * s.h * s.w, g * pl.k, pl.k, pc.pix0, len, col, len);
            pack_transposed(col, len, pl.k, len, pl.nr, len * pl.nr, packed);
            multiply(pl, uk, dy + (pc.b * s.c_out + g * pl.o) * pl.p + pc.pix0, pl.p, pl.o, len, packed, first, accg);
            continue;
        }
        // acc_g (K x O) = col rows @ dy^T, KB rows of col at a time
        for (const Piece& pc : pieces)
            pack_transposed(dy + (pc.b * s.c_out + g * pl.o) * pl.p + pc.pix0, pl.p, pl.o, pc.len, pl.nr, len * pl.nr,
                            packed + pc.at * pl.nr);
        T* col = conv_scratch<21, T>(size_t(pl.kb * DB));
        for (int64_t k0 = 0; k0 < pl.k; k0 += pl.kb) {
            const int64_t rows = std::min(pl.kb, pl.k - k0);
            for (const Piece& pc : pieces)
                im2col_block(s, x + pc.b * s.c_in * s.h * s.w, g * pl.k + k0, rows, pc.pix0, pc.len, col + pc.at, len);
            multiply(pl, uk, col, len, rows, len, packed, first, accg + k0 * pl.o);
        }
    }
}

}  // namespace

template <typename T>
void conv2d_rows_grad_weight(const Conv2dShape& s, const T* x, const T* dy, T* dw) {
    const RowsMicrokernel<T> uk = rows_microkernel(T(0));
    Plan pl;
    pl.mr = uk.mr, pl.nr = uk.nr, pl.groups = s.groups;
    pl.o = s.c_out / s.groups, pl.k = s.c_in / s.groups * s.kh * s.kw, pl.p = s.oh * s.ow;
    pl.dy_rows = operand_cost(pl.o, pl.k, pl.mr, pl.nr) < operand_cost(pl.k, pl.o, pl.mr, pl.nr);
    pl.kb = std::min<int64_t>(8 * pl.mr, (pl.k + pl.mr - 1) / pl.mr * pl.mr);
    pl.blocks_per_image = (pl.p + DB - 1) / DB;
    pl.items = pl.dy_rows ? s.n * pl.blocks_per_image : (s.n * pl.p + DB - 1) / DB;
    const int64_t size = pl.groups * pl.k * pl.o;
    std::vector<T*> partial(std::max(1, get_num_threads()), nullptr);
    const int used = parallel_run(int(std::min<int64_t>(pl.items, get_num_threads())), [&](int tid, int nt) {
        T* acc = conv_scratch<22, T>(size_t(size));
        partial[tid] = acc;
        const int64_t i0 = pl.items * tid / nt, i1 = pl.items * (tid + 1) / nt;
        for (int64_t item = i0; item < i1; ++item) run_item(s, pl, uk, x, dy, item, item == i0, acc);
    });
    // dw[g*O + o, kk] = sum over threads of acc_g[o][kk] (dy rows) or acc_g[kk][o] (col rows)
    parallel_for(pl.groups * pl.o, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t row = r0; row < r1; ++row) {
            const int64_t g = row / pl.o, o = row % pl.o;
            for (int64_t kk = 0; kk < pl.k; ++kk) {
                const int64_t at = g * pl.k * pl.o + (pl.dy_rows ? o * pl.k + kk : kk * pl.o + o);
                T sum = T(0);
                for (int t = 0; t < used; ++t) sum += partial[t][at];
                dw[row * pl.k + kk] = sum;
            }
        }
    });
}

template void conv2d_rows_grad_weight<float>(const Conv2dShape&, const float*, const float*, float*);
template void conv2d_rows_grad_weight<double>(const Conv2dShape&, const double*, const double*, double*);

}  // namespace tf::cpu
