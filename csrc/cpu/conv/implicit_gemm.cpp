// conv2d forward as an implicit GEMM on our GEMM microkernels, with im2col fused into packing.
//
// Per group g: Y_g (O x N*P) = W_g (O x K) @ col_g (K x N*P), K = c_in/groups * kh * kw, P = oh*ow,
// where the columns of all images are laid end to end (small late-network images still fill
// whole NR-wide tiles). W_g is packed once per call into MR-row slivers per block of at most KC_MAX rows of K
// (shared by all threads). Work items are (group, block of NB columns); for each such block the
// item's thread writes the im2col values of its columns straight into NR-wide packed slivers
// (no col matrix in memory: each sliver row is a few runs copied from input rows, zero where
// the taps fall in the padding), then runs the MR x NR microkernel over (sliver, A sliver),
// writing C tiles from registers into y when the tile lies inside one image (ldc = P) and
// through a scratch tile otherwise. Bias is added to the item's columns at the end.
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

// A run of columns that share image b and output row i and land in one packed sliver.
struct Segment {
    int64_t b, i, j0, len;  // output columns j0 .. j0+len-1 of row i of image b
    int64_t sliver, lane;   // where the first of them goes in the packed block
};

struct Plan {
    int64_t o, k, p, cin_g, total, nir, nb, blocks, kc;  // kc: K split into equal blocks of at most KC_MAX
    int mr, nr;
};

// Packs rows [k0, k0 + kc) of col_g for the segments' columns into NR-wide slivers at dst.
template <typename T>
void pack_b(const Conv2dShape& s, const Plan& pl, const T* x, int64_t g, int64_t k0, int64_t kc,
            const std::vector<Segment>& segs, T* dst) {
    const int64_t taps = s.kh * s.kw;
    for (int64_t kk = 0; kk < kc; ++kk) {
        const int64_t row = k0 + kk, c = row / taps, pq = row % taps, p = pq / s.kw, q = pq % s.kw;
        const int64_t coff = q * s.dil_w - s.pad_w;
        for (const Segment& sg : segs) {
            T* out = dst + sg.sliver * kc * pl.nr + kk * pl.nr + sg.lane;
            const int64_t r = sg.i * s.stride_h - s.pad_h + p * s.dil_h;
            if (r < 0 || r >= s.h) {
                std::fill(out, out + sg.len, T(0));
                continue;
            }
            const T* src = x + ((sg.b * s.c_in + g * pl.cin_g + c) * s.h + r) * s.w;
            copy_tap_run(src, sg.j0 * s.stride_w + coff, s.stride_w, s.w, sg.len, out);
        }
    }
}

// Splits columns [c0, c0 + ncols) of the flattened (image, pixel) space into segments.
void make_segments(const Conv2dShape& s, const Plan& pl, int64_t c0, int64_t ncols, std::vector<Segment>& segs) {
    segs.clear();
    for (int64_t t = 0; t < ncols;) {
        const int64_t col = c0 + t, b = col / pl.p, pix = col % pl.p, i = pix / s.ow, j = pix % s.ow;
        const int64_t lane = t % pl.nr;
        const int64_t len = std::min({s.ow - j, int64_t(pl.nr) - lane, ncols - t});
        segs.push_back({b, i, j, len, t / pl.nr, lane});
        t += len;
    }
}

// W_g (O x K, rows of w) into MR-row slivers per KC block: block at nir*MR*k0, sliver ir at + ir*MR*kc.
template <typename T>
void pack_weights(const Plan& pl, const T* w, int64_t groups, T* packed) {
    const int64_t per_group = pl.nir * pl.mr * pl.k;
    parallel_for(groups * pl.nir, 4, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t g = t / pl.nir, ir = t % pl.nir;
            for (int64_t k0 = 0; k0 < pl.k; k0 += pl.kc) {
                const int64_t kc = std::min(pl.kc, pl.k - k0);
                T* dst = packed + g * per_group + pl.nir * pl.mr * k0 + ir * pl.mr * kc;
                for (int r = 0; r < pl.mr; ++r) {
                    const int64_t o = ir * pl.mr + r;
                    const T* src = w + (g * pl.o + o) * pl.k + k0;
                    for (int64_t kk = 0; kk < kc; ++kk) dst[kk * pl.mr + r] = o < pl.o ? src[kk] : T(0);
                }
            }
        }
    });
}

template <typename T>
void run_item(const Conv2dShape& s, const Plan& pl, const GemmMicrokernel<T>& uk, const T* x, const T* apacked,
              const T* bias, T* y, int64_t g, int64_t c0, int64_t ncols) {
    thread_local std::vector<Segment> segs;
    make_segments(s, pl, c0, ncols, segs);
    const int64_t slivers = (ncols + pl.nr - 1) / pl.nr;
    T* bpacked = conv_scratch<10, T>(size_t(slivers * pl.nr * pl.kc));
    alignas(64) T tile[12 * 32];
    const T* ag = apacked + g * pl.nir * pl.mr * pl.k;
    for (int64_t k0 = 0; k0 < pl.k; k0 += pl.kc) {
        const int64_t kc = std::min(pl.kc, pl.k - k0);
        const bool accumulate = k0 > 0;
        if (ncols % pl.nr) {  // lanes past the last column: keep them finite
            T* last = bpacked + (slivers - 1) * pl.nr * kc;
            for (int64_t kk = 0; kk < kc; ++kk) std::fill(last + kk * pl.nr + ncols % pl.nr, last + (kk + 1) * pl.nr, T(0));
        }
        pack_b(s, pl, x, g, k0, kc, segs, bpacked);
        for (int64_t sl = 0; sl < slivers; ++sl) {
            const int64_t col = c0 + sl * pl.nr, live_cols = std::min<int64_t>(pl.nr, ncols - sl * pl.nr);
            const int64_t b = col / pl.p, pix = col % pl.p;
            const bool one_image = pix + live_cols <= pl.p;
            const T* bsl = bpacked + sl * pl.nr * kc;
            for (int64_t ir = 0; ir < pl.nir; ++ir) {
                const T* asl = ag + pl.nir * pl.mr * k0 + ir * pl.mr * kc;
                const int64_t o0 = ir * pl.mr, live_rows = std::min<int64_t>(pl.mr, pl.o - o0);
                T* ydst = y + (b * s.c_out + g * pl.o + o0) * pl.p + pix;
                if (one_image && live_rows == pl.mr && live_cols == pl.nr) {
                    uk.run(kc, asl, bsl, ydst, pl.p, T(1), T(0), accumulate);
                    continue;
                }
                uk.run(kc, asl, bsl, tile, pl.nr, T(1), T(0), false);
                for (int64_t t = 0; t < live_cols; ++t) {
                    const int64_t ct = col + t, bt = ct / pl.p, pt = ct % pl.p;
                    T* dst = y + (bt * s.c_out + g * pl.o + o0) * pl.p + pt;
                    for (int64_t r = 0; r < live_rows; ++r) {
                        if (accumulate) dst[r * pl.p] += tile[r * pl.nr + t];
                        else dst[r * pl.p] = tile[r * pl.nr + t];
                    }
                }
            }
        }
    }
    if (!bias) return;
    for (const Segment& sg : segs) {
        T* base = y + (sg.b * s.c_out + g * pl.o) * pl.p + sg.i * s.ow + sg.j0;
        for (int64_t o = 0; o < pl.o; ++o) {
            const T v = bias[g * pl.o + o];
            for (int64_t t = 0; t < sg.len; ++t) base[o * pl.p + t] += v;
        }
    }
}

}  // namespace

template <typename T>
void conv2d_implicit_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
    const GemmMicrokernel<T> uk = microkernel(T(0));
    Plan pl;
    pl.mr = uk.mr, pl.nr = uk.nr;
    pl.o = s.c_out / s.groups, pl.cin_g = s.c_in / s.groups, pl.k = pl.cin_g * s.kh * s.kw, pl.p = s.oh * s.ow;
    pl.total = s.n * pl.p;
    pl.nir = (pl.o + pl.mr - 1) / pl.mr;
    const int64_t kblocks = (pl.k + KC_MAX - 1) / KC_MAX;
    pl.kc = (pl.k + kblocks - 1) / kblocks;
    // Columns per item: up to NB_MAX, fewer when that leaves too few items to keep every thread busy.
    const int threads = get_num_threads();
    pl.nb = NB_MAX;
    while (pl.nb > pl.nr && s.groups * ((pl.total + pl.nb - 1) / pl.nb) < 4 * threads) pl.nb -= pl.nr;
    pl.blocks = (pl.total + pl.nb - 1) / pl.nb;
    T* apacked = conv_scratch<11, T>(size_t(s.groups * pl.nir * pl.mr * pl.k));
    pack_weights(pl, w, s.groups, apacked);
    parallel_for(s.groups * pl.blocks, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t g = t / pl.blocks, c0 = (t % pl.blocks) * pl.nb;
            run_item(s, pl, uk, x, apacked, bias, y, g, c0, std::min(pl.nb, pl.total - c0));
        }
    });
}

template void conv2d_implicit_forward<float>(const Conv2dShape&, const float*, const float*, const float*, float*);
template void conv2d_implicit_forward<double>(const Conv2dShape&, const double*, const double*, const double*, double*);

}  // namespace tf::cpu
