// conv2d forward as a direct convolution on a padded, stride-phase-split grid, no im2col.
//
// Each image's input planes are copied, zero-padded and split into stride phases, into a grid
// (grid_conv.h) of Hp = oh + (kh-1)*dil_h/stride_h rows of Wp = ow + (kw-1)*dil_w/stride_w values
// per phase, so that output pixel (i, j) reads channel block position tap(p, q) + i * Wp + j for
// tap (p, q) whatever the stride: for a run of consecutive output pixels of one row, every
// (channel, tap) reads consecutive values. The driver runs "parts" (grid_conv.h: GridPart), each
// a stride-1 convolution over the grid with its own taps, weights and output positions: the
// forward is one part; the strided grad-input (grid_grad_input.cpp) one per stride phase of dx.
// Each output row of a part is split evenly into tiles of at most the microkernel's rows
// (26 -> 13 + 13 on AVX-512), or, for rows of 4 to 7 pixels with the AVX-512 kernel, the same row
// of two or three consecutive images makes a tile (7x7: 14 pixels; images are then handled in
// groups that size); the grid microkernel (grid_microkernel.h) computes a tile's pixels x NR
// output channels, broadcasting the input from the grid in place against weights packed once per
// call into NR-channel slivers ([sliver][c][tap][NR], zero past the last channel). As every pixel
// of a tile is in one output row, the taps at either end of the part's list that read only zero
// padding rows for that row are left out (3x3, padding 1: 3 of 9 taps on the first and last
// rows), and the microkernel is told which taps read a padding column with the tile's first or
// last pixel (7x7 images, 3x3, padding 1: 18% of the products are such zeros). A work chunk (one
// sliver, up to CHUNK_TILES tiles) runs K whole for each tile while the sliver's weights fit
// half of L2 (measured: 16 KB blocks that stay in L1 but add C-block accumulation run 4-15%
// slower), in blocks of input planes beyond that, into an L2-resident C block
// ([tile][pixel][channel]), then writes y (NCHW) tile by tile + bias. Used where
// grid_forward_applies (grid_conv.h). When the grids of the whole batch fit in BATCH_GRIDS, all
// are filled first and chunks run across images (small late-network images: each weight sliver
// then serves every image's tiles while it is in cache). Otherwise threads take whole images
// when the batch splits evenly over them (each with its own grids); or images run in turn with
// the grid fill and chunks split over the pool. A 1x1 stride-1 layer without padding reads x
// itself as its grids where images are small (IN_PLACE).
// Layout: x NCHW, w OIHW, y NCHW.
#include "grid_conv.h"

#include <algorithm>
#include <vector>

#include "../thread_pool.h"
#include "conv_scratch.h"
#include "grid_microkernel.h"
#include "tap_run.h"
#include "../pack_transposed.h"

namespace tf::cpu {
namespace {

constexpr int64_t BATCH_GRIDS = 1024 * 1024;  // bytes: the grids of all images when they fit L2
// bytes: largest image read in place as its own grid. Measured, one thread: 1x1 256@14 N = 8
// (196 KB images) 83 -> 89-95 GFLOP/s in place; 256->64@56 (3.2 MB images) 72 -> 61-66: there the
// copy, one sequential pass, brings x in faster than the tiles' 256 short runs per pixel row.
constexpr int64_t IN_PLACE = 512 * 1024;
constexpr int64_t MIN_DEPTH = 128;  // shallower K: writing tiles out costs more than the implicit GEMM's packing
constexpr int64_t CHUNK_TILES = 64;         // tiles per work chunk (a C block of 64 x 14 x 32 floats: L2)
constexpr int64_t WEIGHT_BLOCK = 512 * 1024;  // bytes of packed weights per K block (half of L2)
constexpr int64_t PACK_VALUES = 64;           // values per row and pass of the forward's weight pack

// A tile: columns [j0, j1) of output row i of `images` consecutive images from `image` (more
// than one only for short rows: the same row of each, `grid_size` apart in the grids).
struct Tile {
    int64_t image, images, i, j0, j1;
};

// A part's tiling and weights: tiles of output pixels, NR-channel weight slivers, per output
// row the run of taps [first_tap, last_tap) that reads anything but zero padding, and per tap
// the input column it reads for output column 0 (stride_w more per output column).
struct Plan {
    const GridPart* part;
    int64_t per_row, group;   // tiles per output row, or images per tile (short rows)
    int64_t mr, slivers;      // mr: most pixels of a tile
    int64_t planes_per_block; // input planes per K block (their weights fill about WEIGHT_BLOCK bytes)
    int64_t packed;           // offset of the part's packed weights
    std::vector<int64_t> first_tap, last_tap, tap_column;

    Plan(const Conv2dShape& in, const ConvGrid& g, const GridPart& p, int64_t c_out, int max_rows, bool multi_row,
         int nr, size_t elem, int64_t offset)
        : part(&p), per_row((p.ow + max_rows - 1) / max_rows),
          group(multi_row && p.ow >= 4 && 2 * p.ow <= max_rows ? max_rows / p.ow : 1),
          mr(group > 1 ? group * p.ow : (p.ow + per_row - 1) / per_row), slivers((c_out + nr - 1) / nr),
          packed(offset), first_tap(p.oh), last_tap(p.oh), tap_column(p.taps.size()) {
        const int64_t ntaps = int64_t(p.taps.size()), per_plane = ntaps * nr * int64_t(elem);
        const int64_t blocks = (in.c_in * per_plane + WEIGHT_BLOCK - 1) / WEIGHT_BLOCK;
        planes_per_block = (in.c_in + blocks - 1) / blocks;
        for (int64_t t = 0; t < ntaps; ++t) {
            const int64_t phase = p.taps[t] / g.phase_size, v = p.taps[t] % g.phase_size % g.wp;
            tap_column[t] = in.stride_w * v + g.col_phases[phase % int64_t(g.col_phases.size())] - in.pad_w;
        }
        for (int64_t i = 0; i < p.oh; ++i) {
            // tap t reads grid row i + (its offset in its phase) / wp of its phase, input row
            // stride_h * that + the phase's row residue - pad_h
            const auto reads_input = [&](int64_t t) {
                const int64_t phase = p.taps[t] / g.phase_size, u = i + p.taps[t] % g.phase_size / g.wp;
                const int64_t r = in.stride_h * u + g.row_phases[phase / int64_t(g.col_phases.size())] - in.pad_h;
                return r >= 0 && r < in.h;
            };
            int64_t lo = 0, hi = ntaps;
            while (lo < hi && !reads_input(lo)) ++lo;
            while (hi > lo && !reads_input(hi - 1)) --hi;
            first_tap[i] = lo, last_tap[i] = hi;
        }
    }
    int64_t tiles(int64_t images) const {
        return group > 1 ? (images + group - 1) / group * part->oh : images * part->oh * per_row;
    }
    Tile tile(int64_t t, int64_t images) const {
        const int64_t oh = part->oh, ow = part->ow;
        if (group > 1) {
            const int64_t image = t / oh * group;
            return {image, std::min(group, images - image), t % oh, 0, ow};
        }
        const int64_t k = t % per_row, row = t / per_row;  // ow split evenly over the row's tiles
        return {row / oh, 1, row % oh, k * ow / per_row, (k + 1) * ow / per_row};
    }
    int64_t chunks(int64_t images) const { return (tiles(images) + CHUNK_TILES - 1) / CHUNK_TILES; }
};

// What every chunk shares: the grids' geometry, the microkernel, the packed weights and y.
template <typename T>
struct Job {
    int64_t c_in, c_out, plane, wp, grid_size, y_w, y_plane, in_w, stride_w;  // in_w: input columns
    GridMicrokernel<T> uk;
    const T *packed, *bias;
};

// A part's weights into NR-channel slivers [sliver][c][tap][NR], zero past the last output
// channel, slivers in parallel. When the part uses every tap of w in order, through the shared
// transposing pack (4 x 4 SSE blocks for float): the forward's OIHW rows in blocks of PACK_VALUES
// values, so that the sliver being written stays in L1; in-major weights (the grad-input's) per
// input plane, whose NR output channels x taps are one contiguous block. Otherwise (the phases
// of a strided grad-input) value by value.
template <typename T>
void pack_weights(const GridWeights<T>& wt, const GridPart& part, int64_t c_in, int64_t c_out, int64_t slivers, int nr,
                  T* packed) {
    const int64_t nt = int64_t(part.weight_taps.size()), k = c_in * nt;
    bool every_tap = nt == wt.taps;
    for (int64_t t = 0; t < nt && every_tap; ++t) every_tap = part.weight_taps[t] == t;
    parallel_for(slivers, 1, [&](int64_t s0, int64_t s1) {
        for (int64_t sl = s0; sl < s1; ++sl) {
            const int64_t o0 = sl * nr, live = std::min<int64_t>(nr, c_out - o0);
            T* dst = packed + o0 * k;
            if (every_tap && wt.out_major) {
                for (int64_t d0 = 0; d0 < k; d0 += PACK_VALUES)
                    pack_transposed(wt.w + o0 * k + d0, k, live, std::min(PACK_VALUES, k - d0), nr, 0, dst + d0 * nr);
            } else if (every_tap) {
                for (int64_t c = 0; c < c_in; ++c)
                    pack_transposed(wt.w + (c * c_out + o0) * nt, nt, live, nt, nr, 0, dst + c * nt * nr);
            } else {
                for (int64_t c = 0; c < c_in; ++c, dst += nt * nr)
                    for (int64_t lane = 0; lane < nr; ++lane)
                        for (int64_t t = 0; t < nt; ++t) {
                            const int64_t o = o0 + lane, tap = part.weight_taps[t];
                            dst[t * nr + lane] = lane >= live ? T(0)
                                                 : wt.out_major ? wt.w[(o * c_in + c) * wt.taps + tap]
                                                                : wt.w[(c * c_out + o) * wt.taps + tap];
                        }
            }
        }
    });
}

// Chunk `chunk` of part pl over `images` consecutive images (grids at gp, outputs at y; sliver
// chunk / chunks, up to CHUNK_TILES tiles in image-major order): the tiles accumulate over blocks
// of input planes (usually one) in an L2-resident C block, leaving out the taps at either end of
// the part's list that read only zero padding for the tile's row (and telling the microkernel
// which taps read padding with the tile's first or last column), then the C block goes into y
// (+ bias) at the part's output positions.
template <typename T>
void run_chunk(const Job<T>& jb, const Plan& pl, const T* gp, T* y, int64_t images, int64_t chunk) {
    const GridPart& pt = *pl.part;
    const GridMicrokernel<T>& uk = jb.uk;
    const int64_t chunks = pl.chunks(images);
    const int64_t sl = chunk / chunks, t0 = (chunk % chunks) * CHUNK_TILES;
    const int64_t t1 = std::min(pl.tiles(images), t0 + CHUNK_TILES), ntaps = int64_t(pt.taps.size());
    const int64_t tile_size = pl.mr * uk.nr;
    T* cblock = conv_scratch<32, T>(size_t(CHUNK_TILES * tile_size));
    std::vector<unsigned char> edges(static_cast<size_t>(ntaps));
    const T* wsl = jb.packed + pl.packed + sl * jb.c_in * ntaps * uk.nr;
    for (int64_t c0 = 0; c0 < jb.c_in; c0 += pl.planes_per_block) {
        const int64_t planes = std::min(pl.planes_per_block, jb.c_in - c0);
        for (int64_t t = t0; t < t1; ++t) {
            const Tile tl = pl.tile(t, images);
            const int64_t width = tl.j1 - tl.j0, lo = pl.first_tap[tl.i], hi = pl.last_tap[tl.i];
            for (int64_t k = lo; k < hi; ++k) {  // edge pixels that read padding columns
                const int64_t first = jb.stride_w * tl.j0 + pl.tap_column[k];
                const int64_t last = jb.stride_w * (tl.j1 - 1) + pl.tap_column[k];
                edges[k - lo] = (first < 0 || first >= jb.in_w ? 1 : 0) | (last < 0 || last >= jb.in_w ? 2 : 0);
            }
            const T* a = gp + tl.image * jb.grid_size + c0 * jb.plane + tl.i * jb.wp + tl.j0;
            uk.run(int(tl.images * width), int(width), jb.grid_size, a, jb.plane, planes, pt.taps.data() + lo, hi - lo,
                   edges.data(), wsl + (c0 * ntaps + lo) * uk.nr, ntaps * uk.nr, cblock + (t - t0) * tile_size, uk.nr,
                   c0 > 0);
        }
    }
    // tile by tile (its pixels x NR block stays in L1), each channel's pixels into its plane
    const int64_t live = std::min<int64_t>(uk.nr, jb.c_out - sl * uk.nr);
    for (int64_t t = t0; t < t1; ++t) {
        const Tile tl = pl.tile(t, images);
        const int64_t width = tl.j1 - tl.j0;
        for (int64_t b = 0; b < tl.images; ++b) {
            const T* tile = cblock + (t - t0) * tile_size + b * width * uk.nr;
            T* dst = y + ((tl.image + b) * jb.c_out + sl * uk.nr) * jb.y_plane + (pt.row0 + tl.i * pt.step_h) * jb.y_w +
                     pt.col0 + tl.j0 * pt.step_w;
            for (int64_t c = 0; c < live; ++c, dst += jb.y_plane) {
                const T v = jb.bias ? jb.bias[sl * uk.nr + c] : T(0);
                if (pt.step_w == 1)
                    for (int64_t r = 0; r < width; ++r) dst[r] = tile[r * uk.nr + c] + v;
                else
                    for (int64_t r = 0; r < width; ++r) dst[r * pt.step_w] = tile[r * uk.nr + c] + v;
            }
        }
    }
}

bool split_images(int64_t n, int threads) { return threads > 1 && (n % threads == 0 || n >= 2 * threads); }

}  // namespace

namespace {

// The residues p * dil mod stride of the taps p < k, ascending.
std::vector<int64_t> phases(int64_t k, int64_t dil, int64_t stride) {
    std::vector<int64_t> out;
    for (int64_t a = 0; a < stride; ++a)
        for (int64_t p = 0; p < k; ++p)
            if (p * dil % stride == a) {
                out.push_back(a);
                break;
            }
    return out;
}

int64_t index_of(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) - v.begin(); }

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

}  // namespace

ConvGrid::ConvGrid(const Conv2dShape& s)
    : hp(s.oh + (s.kh - 1) * s.dil_h / s.stride_h), wp(s.ow + (s.kw - 1) * s.dil_w / s.stride_w), phase_size(hp * wp),
      plane(0), row_phases(phases(s.kh, s.dil_h, s.stride_h)), col_phases(phases(s.kw, s.dil_w, s.stride_w)) {
    plane = phase_size * int64_t(row_phases.size() * col_phases.size());
}

int64_t ConvGrid::tap(const Conv2dShape& s, int64_t p, int64_t q) const {
    const int64_t u = p * s.dil_h, v = q * s.dil_w;
    const int64_t phase = index_of(row_phases, u % s.stride_h) * int64_t(col_phases.size()) +
                          index_of(col_phases, v % s.stride_w);
    return phase * phase_size + u / s.stride_h * wp + v / s.stride_w;
}

template <typename T>
void fill_conv_grid(const Conv2dShape& s, const ConvGrid& g, const T* xb, int64_t c0, int64_t c1, T* dst) {
    for (int64_t c = c0; c < c1; ++c) {
        T* row = dst + c * g.plane;
        const T* src = xb + c * s.h * s.w;
        std::fill(row, row + g.plane, T(0));  // the padding; the input rows then go over it
        for (const int64_t a : g.row_phases)
            for (const int64_t b : g.col_phases) {
                // phase column v reads input column stride_w * v + b - pad_w: valid for v in [v0, v1)
                const int64_t v0 = std::clamp(-floor_div(b - s.pad_w, s.stride_w), int64_t(0), g.wp);
                const int64_t v1 = std::clamp(floor_div(s.w - 1 + s.pad_w - b, s.stride_w) + 1, v0, g.wp);
                for (int64_t u = 0; u < g.hp; ++u, row += g.wp) {
                    const int64_t r = s.stride_h * u + a - s.pad_h;
                    if (r < 0 || r >= s.h) continue;
                    const T* in = src + r * s.w + s.stride_w * v0 + b - s.pad_w;
                    if (s.stride_w == 1) copy_short(in, v1 - v0, row + v0);
                    else
                        for (int64_t v = v0; v < v1; ++v) row[v] = in[(v - v0) * s.stride_w];
                }
            }
    }
}

bool grid_conv_applies(const Conv2dShape& s) { return s.groups == 1; }

template <typename T>
bool grid_forward_applies(const Conv2dShape& s) {
    const int64_t nr = grid_microkernel(T(0)).nr, padded = (s.c_out + nr - 1) / nr * nr;
    return grid_conv_applies(s) && 5 * s.c_out >= 4 * padded && s.c_in * s.kh * s.kw >= MIN_DEPTH;
}

template <typename T>
void conv2d_grid_parts(const Conv2dShape& in, const ConvGrid& g, const T* x, const std::vector<GridPart>& parts,
                       const GridWeights<T>& w, int64_t c_out, int64_t y_h, int64_t y_w, const T* bias, T* y) {
    Job<T> jb{in.c_in, c_out, g.plane, g.wp, in.c_in * g.plane, y_w, y_h * y_w, in.w, in.stride_w,
              grid_microkernel(T(0)), nullptr, bias};
    const GridMicrokernel<T>& uk = jb.uk;
    std::vector<Plan> plans;
    int64_t packed_size = 0;
    for (const GridPart& p : parts) {
        plans.emplace_back(in, g, p, c_out, uk.max_rows, uk.multi_row, uk.nr, sizeof(T), packed_size);
        packed_size += plans.back().slivers * uk.nr * in.c_in * int64_t(p.taps.size());
    }
    T* packed = conv_scratch<31, T>(size_t(packed_size));
    for (size_t k = 0; k < parts.size(); ++k)
        pack_weights(w, parts[k], in.c_in, c_out, plans[k].slivers, uk.nr, packed + plans[k].packed);
    jb.packed = packed;
    const int64_t xsize = in.c_in * in.h * in.w, ysize = c_out * jb.y_plane;
    // work units over `images` images: (part, sliver, chunk), part by part
    const auto units = [&](int64_t images) {
        int64_t n = 0;
        for (const Plan& pl : plans) n += pl.slivers * pl.chunks(images);
        return n;
    };
    const auto run_unit = [&](const T* gp, T* yb, int64_t images, int64_t u) {
        size_t k = 0;
        for (; u >= plans[k].slivers * plans[k].chunks(images); ++k) u -= plans[k].slivers * plans[k].chunks(images);
        run_chunk(jb, plans[k], gp, yb, images, u);
    };
    const int threads = get_num_threads();
    // x itself is the grid of every image (1x1, stride 1, no padding) when an image fits IN_PLACE
    const bool in_place = g.in_place(in) && jb.grid_size * int64_t(sizeof(T)) <= IN_PLACE;
    // the grids of `images` images from image b at gp, filled by the pool or by the calling thread
    const auto fill = [&](int64_t b, int64_t images, T* gp, bool pooled) -> const T* {
        if (in_place) return x + b * xsize;
        const auto planes = [&](int64_t p0, int64_t p1) {
            for (int64_t p = p0; p < p1;) {
                const int64_t i = p / in.c_in, c0 = p % in.c_in, c1 = std::min(in.c_in, c0 + p1 - p);
                fill_conv_grid(in, g, x + (b + i) * xsize, c0, c1, gp + i * jb.grid_size);
                p += c1 - c0;
            }
        };
        if (pooled) parallel_for(images * in.c_in, 8, planes);
        else planes(0, images * in.c_in);
        return gp;
    };
    const auto scratch = [&](int64_t images) {
        return in_place ? nullptr : conv_scratch<30, T>(size_t(images * jb.grid_size));
    };
    if (in.n * jb.grid_size * int64_t(sizeof(T)) <= BATCH_GRIDS) {  // small images: all grids, chunks across images
        const T* gp = fill(0, in.n, scratch(in.n), true);
        parallel_for(units(in.n), 1, [&](int64_t u0, int64_t u1) {
            for (int64_t u = u0; u < u1; ++u) run_unit(gp, y, in.n, u);
        });
        return;
    }
    // otherwise grids for `group` images at a time (short rows: tiles of one row of several images)
    int64_t group = 1;
    for (const Plan& pl : plans) group = std::max(group, pl.group);
    if (split_images(in.n, threads)) {
        parallel_run(threads, [&](int tid, int nt) {
            T* buffer = scratch(group);
            const int64_t b1 = in.n * (tid + 1) / nt;
            for (int64_t b = in.n * tid / nt; b < b1; b += group) {
                const int64_t images = std::min(group, b1 - b);
                const T* gp = fill(b, images, buffer, false);
                for (int64_t u = 0; u < units(images); ++u) run_unit(gp, y + b * ysize, images, u);
            }
        });
        return;
    }
    T* buffer = scratch(group);
    for (int64_t b = 0; b < in.n; b += group) {
        const int64_t images = std::min(group, in.n - b);
        const T* gp = fill(b, images, buffer, true);
        parallel_for(units(images), 1, [&](int64_t u0, int64_t u1) {
            for (int64_t u = u0; u < u1; ++u) run_unit(gp, y + b * ysize, images, u);
        });
    }
}

template <typename T>
void conv2d_grid_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
    const ConvGrid g(s);
    GridPart part{s.oh, s.ow, {}, {}, 0, 0, 1, 1};
    for (int64_t p = 0; p < s.kh; ++p)
        for (int64_t q = 0; q < s.kw; ++q) part.taps.push_back(g.tap(s, p, q)), part.weight_taps.push_back(p * s.kw + q);
    conv2d_grid_parts(s, g, x, {part}, GridWeights<T>{w, true, s.kh * s.kw}, s.c_out, s.oh, s.ow, bias, y);
}

template void fill_conv_grid<float>(const Conv2dShape&, const ConvGrid&, const float*, int64_t, int64_t, float*);
template void fill_conv_grid<double>(const Conv2dShape&, const ConvGrid&, const double*, int64_t, int64_t, double*);
template bool grid_forward_applies<float>(const Conv2dShape&);
template bool grid_forward_applies<double>(const Conv2dShape&);
template void conv2d_grid_parts<float>(const Conv2dShape&, const ConvGrid&, const float*, const std::vector<GridPart>&,
                                       const GridWeights<float>&, int64_t, int64_t, int64_t, const float*, float*);
template void conv2d_grid_parts<double>(const Conv2dShape&, const ConvGrid&, const double*,
                                        const std::vector<GridPart>&, const GridWeights<double>&, int64_t, int64_t,
                                        int64_t, const double*, double*);
template void conv2d_grid_forward<float>(const Conv2dShape&, const float*, const float*, const float*, float*);
template void conv2d_grid_forward<double>(const Conv2dShape&, const double*, const double*, const double*, double*);

}  // namespace tf::cpu
