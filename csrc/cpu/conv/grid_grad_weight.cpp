// conv2d grad-weight with one group, without im2col:
//   acc (K x O) = sum over images and output pixels of col (K x pixels) @ dy^T (pixels x O),
// K = c_in * kh * kw, where row (c, p, q) of col, read along output row i, is the run of
// ow values of the zero-padded, stride-phase-split input grid (grid_conv.h) at
// c * plane + tap(p, q) + i * wp.
// The rows microkernels (rows_microkernel.h) read those rows in place, one pointer per row and
// one segment per output row (skipping the grid's padding columns), against dy^T packed into
// NR-wide slivers per work item. The input is the grid itself when nothing is padded; otherwise
// each image is first copied into the grid.
//
// Work items are runs of whole output rows of one image (about DB pixels), split evenly across
// the thread pool in contiguous ranges (the next item's dy rows are prefetched, spread over the
// current item's microkernel calls: dy is read once, from memory). Each thread accumulates into
// its own K x O block (rows padded to MR, columns to NR, so every tile is whole: the padding
// rows read a real row and are dropped). At the end the per-thread blocks are summed and
// transposed into dw (OIHW).
#include "grid_grad_weight.h"

#include <algorithm>
#include <vector>

#include "../thread_pool.h"
#include "conv_scratch.h"
#include "grid_conv.h"
#include "../pack_transposed.h"
#include "rows_microkernel.h"

namespace tf::cpu {
namespace {

constexpr int64_t DB = 128;  // pixels per item: a packed dy^T sliver of DB x NR floats stays in L1

struct Plan {
    int64_t k, o, kp, np;       // K, O, and the accumulator's padded rows / columns
    int64_t rows_per_item, items_per_image, items;
    std::vector<int64_t> offset;  // grid offset of each of the kp rows (padding rows repeat row 0)
};

// The dy rows of a work item, cache line by cache line (for software prefetch).
struct NextRows {
    const char* first = nullptr;  // the item's first pixel in dy channel 0
    int64_t row_bytes = 0, line_count = 0, channel_bytes = 0;
    int64_t lines() const { return line_count * (first ? 1 : 0); }
    void prefetch(int64_t l0, int64_t l1) const {  // lines [l0, l1) in channel-major order
        const int64_t per_row = (row_bytes + 63) / 64;
        for (int64_t l = l0; l < l1; ++l) __builtin_prefetch(first + l / per_row * channel_bytes + l % per_row * 64);
    }
};

template <typename T>
NextRows next_rows(const Conv2dShape& s, const Plan& pl, const T* dy, int64_t item) {
    const int64_t b = item / pl.items_per_image, r0 = (item % pl.items_per_image) * pl.rows_per_item;
    const int64_t r1 = std::min(s.oh, r0 + pl.rows_per_item), p = s.oh * s.ow;
    NextRows n;
    n.first = reinterpret_cast<const char*>(dy + b * s.c_out * p + r0 * s.ow);
    n.row_bytes = (r1 - r0) * s.ow * int64_t(sizeof(T));
    n.channel_bytes = p * int64_t(sizeof(T));
    n.line_count = pl.o * ((n.row_bytes + 63) / 64);
    return n;
}

}  // namespace

template <typename T>
bool grid_grad_weight_applies(const Conv2dShape& s) {
    const int64_t nr = rows_microkernel(T(0)).nr, padded = (s.c_out + nr - 1) / nr * nr;
    return grid_conv_applies(s) && s.kh * s.kw > 1 && 5 * s.c_out >= 4 * padded;
}

template <typename T>
void conv2d_grid_grad_weight(const Conv2dShape& s, const T* x, const T* dy, T* dw) {
    const RowsMicrokernel<T> uk = rows_microkernel(T(0));
    const ConvGrid gd(s);
    const bool in_place = gd.in_place(s);
    Plan pl;
    pl.k = s.c_in * s.kh * s.kw, pl.o = s.c_out;
    pl.kp = (pl.k + uk.mr - 1) / uk.mr * uk.mr, pl.np = (pl.o + uk.nr - 1) / uk.nr * uk.nr;
    pl.items_per_image = std::max<int64_t>(1, std::min(s.oh, (s.oh * s.ow + DB - 1) / DB));
    pl.rows_per_item = (s.oh + pl.items_per_image - 1) / pl.items_per_image;
    pl.items_per_image = (s.oh + pl.rows_per_item - 1) / pl.rows_per_item;
    pl.items = s.n * pl.items_per_image;
    for (int64_t kk = 0; kk < pl.kp; ++kk) {
        const int64_t row = kk < pl.k ? kk : 0, taps = s.kh * s.kw;
        const int64_t c = row / taps, p = row % taps / s.kw, q = row % s.kw;
        pl.offset.push_back(c * gd.plane + gd.tap(s, p, q));
    }
    const int64_t size = pl.kp * pl.np, xsize = s.c_in * s.h * s.w, dysize = s.c_out * s.oh * s.ow;
    std::vector<T*> partial(std::max(1, get_num_threads()), nullptr);
    const int used = parallel_run(int(std::min<int64_t>(pl.items, get_num_threads())), [&](int tid, int nt) {
        T* acc = conv_scratch<40, T>(size_t(size));
        T* packed = conv_scratch<41, T>(size_t(pl.rows_per_item * s.ow * pl.np));
        T* grid = in_place ? nullptr : conv_scratch<42, T>(size_t(s.c_in * gd.plane));
        partial[tid] = acc;
        const int64_t i0 = pl.items * tid / nt, i1 = pl.items * (tid + 1) / nt;
        int64_t filled = -1;
        for (int64_t item = i0; item < i1; ++item) {
            const int64_t b = item / pl.items_per_image, r0 = (item % pl.items_per_image) * pl.rows_per_item;
            const int64_t r1 = std::min(s.oh, r0 + pl.rows_per_item), len = (r1 - r0) * s.ow;
            const T* base = x + b * xsize;
            if (!in_place) {
                if (filled != b) fill_conv_grid(s, gd, base, 0, s.c_in, grid), filled = b;
                base = grid;
            }
            base += r0 * gd.wp;
            pack_transposed(dy + b * dysize + r0 * s.ow, s.oh * s.ow, pl.o, len, uk.nr, len * uk.nr, packed);
            // dy is read once, from memory: fetch the next item's rows while this one computes
            const int64_t calls = pl.np / uk.nr * (pl.kp / uk.mr);
            const NextRows next = item + 1 < i1 ? next_rows(s, pl, dy, item + 1) : NextRows{};
            int64_t call = 0;
            for (int64_t sl = 0; sl < pl.np / uk.nr; ++sl)
                for (int64_t rt = 0; rt < pl.kp; rt += uk.mr) {
                    const T* rows[12];
                    for (int r = 0; r < uk.mr; ++r) rows[r] = base + pl.offset[rt + r];
                    uk.run(r1 - r0, s.ow, gd.wp, rows, packed + sl * len * uk.nr, acc + rt * pl.np + sl * uk.nr, pl.np,
                           item != i0);
                    next.prefetch(call * next.lines() / calls, (call + 1) * next.lines() / calls);
                    ++call;
                }
        }
    });
    // dw[o, kk] = sum over threads of acc[kk][o]: the blocks added into the first (contiguous rows),
    // then transposed by the shared 4 x 4 pack (one K-wide sliver per range of output channels)
    parallel_for(pl.k, 16, [&](int64_t k0, int64_t k1) {
        for (int t = 1; t < used; ++t)
            for (int64_t i = k0 * pl.np; i < k1 * pl.np; ++i) partial[0][i] += partial[t][i];
    });
    parallel_for(pl.o, 16, [&](int64_t o0, int64_t o1) {
        pack_transposed(partial[0] + o0, pl.np, pl.k, o1 - o0, int(pl.k), 0, dw + o0 * pl.k);
    });
}

template bool grid_grad_weight_applies<float>(const Conv2dShape&);
template bool grid_grad_weight_applies<double>(const Conv2dShape&);
template void conv2d_grid_grad_weight<float>(const Conv2dShape&, const float*, const float*, float*);
template void conv2d_grid_grad_weight<double>(const Conv2dShape&, const double*, const double*, double*);

}  // namespace tf::cpu
