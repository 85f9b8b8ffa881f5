// conv2d forward as an implicit GEMM on our GEMM microkernels, with im2col fused into packing.
//
// Per group g: Y_g (O x N*P) = W_g (O x K) @ col_g (K x N*P), K = c_in/groups * kh * kw, P = oh*ow,
// where the columns of all images are laid end to end (small late-network images still fill
// whole tiles). The MR x NR tile normally takes channels as its MR rows and pixels across NR;
// for some channel counts it runs transposed, Y_g^T = col_g^T @ W_g^T, pixels as the MR rows
// (see Plan). W_g is packed once per call into channel slivers per block of at most KC_MAX rows
// of K (shared by all threads). Work items are (group, block of NB columns); for each such block
// the item's thread writes each im2col row of its columns into a row buffer (a few runs copied
// from input rows, zero where the taps fall in the padding; no col matrix in memory) and cuts it
// into packed pixel slivers, then runs the microkernel over (pixel sliver, channel sliver),
// accumulating whole tiles in the item's L2-resident C block (so ragged rows and tiles that
// straddle two images need no scalar path). The C block's runs of pixels are then copied into
// y with the bias added.
// Layout: x NCHW, w OIHW, y NCHW (see tensorforge/conv2d.h).
#include "implicit_gemm.h"

#include <algorithm>
#include <vector>

#include "../cpu_features.h"
#include "../gemm/microkernel.h"
#include "../thread_pool.h"
#include "conv_scratch.h"
#include "tap_run.h"

namespace tf::cpu {
namespace {

constexpr int64_t KC_MAX = 320;  // deepest packed block (a B sliver of KC x NR floats about fills L1)
constexpr int64_t NB_MAX = 256;  // columns per work item (a packed B block of KC x NB fits L2)

GemmMicrokernel<float> microkernel(float) {
    switch (active_isa()) {
#if defined(TENSORFORGE_HAVE_X86_KERNELS)
        case Isa::avx512: return gemm_microkernel_f32_avx512();
        case Isa::avx2: return gemm_microkernel_f32_avx2();
#endif
        default: return gemm_microkernel_f32_baseline();
    }
}
GemmMicrokernel<double> microkernel(double) { return gemm_microkernel_f64_baseline(); }

// A run of columns that share image b and output row i.
struct Segment {
    int64_t b, i, j0, len;  // output columns j0 .. j0+len-1 of row i of image b
    int64_t col;            // the block's column of the first of them
    int64_t image, r0, c0;  // offset of image b in x; input row and column of the first tap
};

// Orientation: the tile's MR side takes output channels and its NR side pixels, unless
// `transposed`, where pixels are the MR rows and channels run across NR (chosen when that pads
// the channels to fewer rows: 64 channels fill two 32-wide AVX-512 tiles exactly, but six 12-row
// ones as 72). The packing is the same either way, in slivers `pw` pixels and `cw` channels wide.
struct Plan {
    int64_t o, k, p, cin_g, total, nch, nb, blocks, kc;  // nch channel slivers; kc: K split into equal blocks of at most KC_MAX
    int pw, cw;
    bool transposed;
};

// Packs rows [k0, k0 + kc) of col_g for the segments' columns into PW-wide slivers at dst.
template <typename T>
void pack_pixels(const Conv2dShape& s, const Plan& pl, const T* x, int64_t g, int64_t k0, int64_t kc,
                 const std::vector<Segment>& segs, int64_t slivers, T* row_buf, T* dst) {
    const int64_t taps = s.kh * s.kw;
    for (int64_t kk = 0; kk < kc; ++kk) {
        const int64_t row = k0 + kk, c = row / taps, pq = row % taps, p = pq / s.kw, q = pq % s.kw;
        const T* plane = x + (g * pl.cin_g + c) * s.h * s.w;
        const int64_t roff = p * s.dil_h, coff = q * s.dil_w;
        for (const Segment& sg : segs) {  // the row of col_g, whole, then cut into slivers
            T* out = row_buf + sg.col;
            const int64_t r = sg.r0 + roff;
            if (r < 0 || r >= s.h) {
                for (int64_t t = 0; t < sg.len; ++t) out[t] = T(0);
                continue;
            }
            copy_tap_run(plane + sg.image + r * s.w, sg.c0 + coff, s.stride_w, s.w, sg.len, out);
        }
        for (int64_t sl = 0; sl < slivers; ++sl)
            copy_short(row_buf + sl * pl.pw, pl.pw, dst + (sl * kc + kk) * pl.pw);
    }
}

// Splits columns [c0, c0 + ncols) of the flattened (image, pixel) space into segments.
void make_segments(const Conv2dShape& s, const Plan& pl, int64_t c0, int64_t ncols, std::vector<Segment>& segs) {
    segs.clear();
    for (int64_t t = 0; t < ncols;) {
        const int64_t col = c0 + t, b = col / pl.p, pix = col % pl.p, i = pix / s.ow, j = pix % s.ow;
        const int64_t len = std::min(s.ow - j, ncols - t);
        segs.push_back({b, i, j, len, t, b * s.c_in * s.h * s.w, i * s.stride_h - s.pad_h,
                        j * s.stride_w - s.pad_w});
        t += len;
    }
}

// W_g (O x K, rows of w) into CW-channel slivers per KC block: block at nch*CW*k0, sliver ir at + ir*CW*kc.
template <typename T>
void pack_weights(const Plan& pl, const T* w, int64_t groups, T* packed) {
    const int64_t per_group = pl.nch * pl.cw * pl.k;
    parallel_for(groups * pl.nch, 4, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t g = t / pl.nch, ir = t % pl.nch;
            for (int64_t k0 = 0; k0 < pl.k; k0 += pl.kc) {
                const int64_t kc = std::min(pl.kc, pl.k - k0);
                T* dst = packed + g * per_group + pl.nch * pl.cw * k0 + ir * pl.cw * kc;
                for (int r = 0; r < pl.cw; ++r) {
                    const int64_t o = ir * pl.cw + r;
                    const T* src = w + (g * pl.o + o) * pl.k + k0;
                    for (int64_t kk = 0; kk < kc; ++kk) dst[kk * pl.cw + r] = o < pl.o ? src[kk] : T(0);
                }
            }
        }
    });
}

template <typename T>
void run_item(const Conv2dShape& s, const Plan& pl, const GemmMicrokernel<T>& uk, const T* x, const T* wpacked,
              const T* bias, T* y, int64_t g, int64_t c0, int64_t ncols) {
    thread_local std::vector<Segment> segs;
    make_segments(s, pl, c0, ncols, segs);
    const int64_t slivers = (ncols + pl.pw - 1) / pl.pw;
    // The C block holds whole tiles, edges included: channels x pixels, or pixels x channels when
    // transposed; element (channel o, column t) sits at cblock + o * ch_stride + t * px_stride.
    const int64_t ldc = pl.transposed ? pl.nch * pl.cw : slivers * pl.pw;
    const int64_t ch_stride = pl.transposed ? 1 : ldc, px_stride = pl.transposed ? ldc : 1;
    T* ppacked = conv_scratch<10, T>(size_t(slivers * pl.pw * pl.kc));
    T* cblock = conv_scratch<12, T>(size_t(pl.nch * pl.cw * slivers * pl.pw));
    T* row_buf = conv_scratch<13, T>(size_t(slivers * pl.pw));
    std::fill(row_buf + ncols, row_buf + slivers * pl.pw, T(0));  // lanes past the last column stay finite
    const T* wg = wpacked + g * pl.nch * pl.cw * pl.k;
    for (int64_t k0 = 0; k0 < pl.k; k0 += pl.kc) {
        const int64_t kc = std::min(pl.kc, pl.k - k0);
        pack_pixels(s, pl, x, g, k0, kc, segs, slivers, row_buf, ppacked);
        for (int64_t sl = 0; sl < slivers; ++sl) {
            const T* pix = ppacked + sl * pl.pw * kc;
            for (int64_t ir = 0; ir < pl.nch; ++ir) {
                const T* ch = wg + pl.nch * pl.cw * k0 + ir * pl.cw * kc;
                T* c = cblock + ir * pl.cw * ch_stride + sl * pl.pw * px_stride;
                if (pl.transposed)
                    uk.run(kc, pix, ch, c, ldc, T(1), T(0), k0 > 0);
                else
                    uk.run(kc, ch, pix, c, ldc, T(1), T(0), k0 > 0);
            }
        }
    }
    // The block's columns are runs of output pixels: copy each run of every channel into y (+ bias).
    for (const Segment& sg : segs) {
        T* base = y + (sg.b * s.c_out + g * pl.o) * pl.p + sg.i * s.ow + sg.j0;
        const T* src = cblock + sg.col * px_stride;
        if (pl.transposed) {  // rows of the block are pixels: read them whole, write across channels
            const T* bg = bias ? bias + g * pl.o : nullptr;
            for (int64_t t = 0; t < sg.len; ++t)
                for (int64_t o = 0; o < pl.o; ++o) base[o * pl.p + t] = src[t * ldc + o] + (bg ? bg[o] : T(0));
            continue;
        }
        for (int64_t o = 0; o < pl.o; ++o) {
            const T v = bias ? bias[g * pl.o + o] : T(0);
            for (int64_t t = 0; t < sg.len; ++t) base[o * pl.p + t] = src[o * ldc + t] + v;
        }
    }
}

}  // namespace

template <typename T>
void conv2d_implicit_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
    const GemmMicrokernel<T> uk = microkernel(T(0));
    Plan pl;
    pl.o = s.c_out / s.groups, pl.cin_g = s.c_in / s.groups, pl.k = pl.cin_g * s.kh * s.kw, pl.p = s.oh * s.ow;
    pl.total = s.n * pl.p;
    // Pixels as the MR rows when that pads the channels by at least 1/16 less (the transposed
    // C block costs a strided copy-out), each packed pixel sliver still feeds more than one tile
    // and holds at least 12 pixels. Measured on AVX-512 (12 x 32): 32 channels in one 32-wide
    // tile run slower than in three 12-row ones; on AVX2 (6 x 16), 32 channels as two 16-wide
    // tiles over 6-pixel slivers run slower than as six 6-row tiles (more packing per FMA).
    const int64_t rows_mr = (pl.o + uk.mr - 1) / uk.mr * uk.mr, rows_nr = (pl.o + uk.nr - 1) / uk.nr * uk.nr;
    pl.transposed = rows_nr * 16 <= rows_mr * 15 && pl.o > uk.nr && uk.mr >= 12;
    pl.pw = pl.transposed ? uk.mr : uk.nr, pl.cw = pl.transposed ? uk.nr : uk.mr;
    pl.nch = (pl.o + pl.cw - 1) / pl.cw;
    const int64_t kblocks = (pl.k + KC_MAX - 1) / KC_MAX;
    pl.kc = (pl.k + kblocks - 1) / kblocks;
    // Columns per item: up to NB_MAX, fewer when that leaves too few items to keep every thread busy.
    const int threads = get_num_threads();
    pl.nb = NB_MAX / pl.pw * pl.pw;
    while (pl.nb > pl.pw && s.groups * ((pl.total + pl.nb - 1) / pl.nb) < 4 * threads) pl.nb -= pl.pw;
    pl.blocks = (pl.total + pl.nb - 1) / pl.nb;
    T* wpacked = conv_scratch<11, T>(size_t(s.groups * pl.nch * pl.cw * pl.k));
    pack_weights(pl, w, s.groups, wpacked);
    parallel_for(s.groups * pl.blocks, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t g = t / pl.blocks, c0 = (t % pl.blocks) * pl.nb;
            run_item(s, pl, uk, x, wpacked, bias, y, g, c0, std::min(pl.nb, pl.total - c0));
        }
    });
}

template void conv2d_implicit_forward<float>(const Conv2dShape&, const float*, const float*, const float*, float*);
template void conv2d_implicit_forward<double>(const Conv2dShape&, const double*, const double*, const double*, double*);

}  // namespace tf::cpu
