// conv2d grad-weight: dw_g^T (K x O) = sum over images and pixels of col_g (K x P) @ dy_g^T (P x O),
// K = c_in/groups * kh * kw, O = c_out/groups, P = oh * ow.
//
// Work items are blocks of up to DB pixels of one image, split evenly across the thread pool;
// each thread accumulates its own dw^T. Per item, dy's block is transposed once into NR-wide
// packed slivers over the output channels (cost O * DB, reused by all K rows), then the im2col
// rows of the block are produced KB rows at a time into an L2-resident buffer (runs copied from
// input rows, zeros for padding taps) and read in place by the rows microkernel
// (rows_microkernel.h: MR rows x NR output channels, depth = the block's pixels), so the large
// operand is never packed. Full tiles go straight into the thread's dw^T; ragged edges through a
// scratch tile. At the end the per-thread dw^T are summed and transposed into dw (OIHW).
#include "grad_weight.h"

#include <algorithm>
#include <vector>

#include "../thread_pool.h"
#include "conv_scratch.h"
#include "rows_microkernel.h"
#include "tap_run.h"

namespace tf::cpu {
namespace {

constexpr int64_t DB = 256;  // pixels per item (a packed dy^T sliver of DB x NR floats fits L1)

struct Plan {
    int64_t o, k, p, groups, nsl, kb, blocks_per_image, items;
    int mr, nr;
};

// dst (rows x len, row stride len) = im2col rows [row0, row0 + rows) of image xb for output pixels [pix0, pix0 + len).
template <typename T>
void im2col_block(const Conv2dShape& s, const T* xb, int64_t row0, int64_t rows, int64_t pix0, int64_t len, T* dst) {
    const int64_t taps = s.kh * s.kw;
    for (int64_t rr = 0; rr < rows; ++rr, dst += len) {
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

// dy block of image b, pixels [pix0, pix0 + len), as packed slivers: [g][sl][d][lane] = dy[b, g*O + sl*NR + lane, pix0 + d].
template <typename T>
void pack_dy(const Conv2dShape& s, const Plan& pl, const T* dy, int64_t b, int64_t pix0, int64_t len, T* dst) {
    for (int64_t g = 0; g < pl.groups; ++g)
        for (int64_t sl = 0; sl < pl.nsl; ++sl, dst += len * pl.nr)
            for (int64_t lane = 0; lane < pl.nr; ++lane) {
                const int64_t o = sl * pl.nr + lane;
                if (o >= pl.o) {
                    for (int64_t d = 0; d < len; ++d) dst[d * pl.nr + lane] = T(0);
                    continue;
                }
                const T* src = dy + (b * s.c_out + g * pl.o + o) * pl.p + pix0;
                for (int64_t d = 0; d < len; ++d) dst[d * pl.nr + lane] = src[d];
            }
}

template <typename T>
void run_item(const Conv2dShape& s, const Plan& pl, const RowsMicrokernel<T>& uk, const T* x, const T* dy,
              int64_t item, bool first, T* acc) {
    const int64_t b = item / pl.blocks_per_image, pix0 = (item % pl.blocks_per_image) * DB;
    const int64_t len = std::min(DB, pl.p - pix0);
    T* packed = conv_scratch<20, T>(size_t(pl.groups * pl.nsl * DB * pl.nr));
    T* col = conv_scratch<21, T>(size_t((pl.kb + pl.mr) * DB));
    alignas(64) T tile[12 * 32];
    pack_dy(s, pl, dy, b, pix0, len, packed);
    const T* xb = x + b * s.c_in * s.h * s.w;
    for (int64_t g = 0; g < pl.groups; ++g)
        for (int64_t k0 = 0; k0 < pl.k; k0 += pl.kb) {
            const int64_t rows = std::min(pl.kb, pl.k - k0), padded = (rows + pl.mr - 1) / pl.mr * pl.mr;
            im2col_block(s, xb, g * pl.k + k0, rows, pix0, len, col);
            std::fill(col + rows * len, col + padded * len, T(0));
            for (int64_t ir = 0; ir < padded; ir += pl.mr) {
                const int64_t live_rows = std::min<int64_t>(pl.mr, rows - ir);
                for (int64_t sl = 0; sl < pl.nsl; ++sl) {
                    const T* bsl = packed + (g * pl.nsl + sl) * len * pl.nr;
                    T* c = acc + (g * pl.k + k0 + ir) * pl.o + sl * pl.nr;
                    const int64_t live_cols = std::min<int64_t>(pl.nr, pl.o - sl * pl.nr);
                    if (live_rows == pl.mr && live_cols == pl.nr) {
                        uk.run(len, col + ir * len, len, bsl, c, pl.o, !first);
                        continue;
                    }
                    uk.run(len, col + ir * len, len, bsl, tile, pl.nr, false);
                    for (int64_t r = 0; r < live_rows; ++r)
                        for (int64_t j = 0; j < live_cols; ++j)
                            c[r * pl.o + j] = first ? tile[r * pl.nr + j] : c[r * pl.o + j] + tile[r * pl.nr + j];
                }
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
    pl.nsl = (pl.o + pl.nr - 1) / pl.nr;
    pl.kb = std::min<int64_t>(8 * pl.mr, (pl.k + pl.mr - 1) / pl.mr * pl.mr);
    pl.blocks_per_image = (pl.p + DB - 1) / DB;
    pl.items = s.n * pl.blocks_per_image;
    const int64_t size = pl.groups * pl.k * pl.o;
    std::vector<T*> partial(std::max(1, get_num_threads()), nullptr);
    const int used = parallel_run(int(std::min<int64_t>(pl.items, get_num_threads())), [&](int tid, int nt) {
        T* acc = conv_scratch<22, T>(size_t(size));
        partial[tid] = acc;
        const int64_t i0 = pl.items * tid / nt, i1 = pl.items * (tid + 1) / nt;
        for (int64_t item = i0; item < i1; ++item) run_item(s, pl, uk, x, dy, item, item == i0, acc);
    });
    // dw[g*O + o, kk] = sum over threads of acc[(g*K + kk) * O + o]
    parallel_for(pl.groups * pl.o, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t row = r0; row < r1; ++row) {
            const int64_t g = row / pl.o, o = row % pl.o;
            for (int64_t kk = 0; kk < pl.k; ++kk) {
                T sum = T(0);
                for (int t = 0; t < used; ++t) sum += partial[t][(g * pl.k + kk) * pl.o + o];
                dw[row * pl.k + kk] = sum;
            }
        }
    });
}

template void conv2d_rows_grad_weight<float>(const Conv2dShape&, const float*, const float*, float*);
template void conv2d_rows_grad_weight<double>(const Conv2dShape&, const double*, const double*, double*);

}  // namespace tf::cpu
