// conv2d forward on a padded, stride-phase-split grid (see grid_conv.cpp); one group; float and double.
#pragma once
#include <tensorforge/conv2d.h>

#include <cstdint>
#include <vector>

namespace tf::cpu {

// Whether the grid drivers apply: one group (any stride and dilation).
bool grid_conv_applies(const Conv2dShape& s);

// Whether the grid forward driver suits this shape: grid_conv_applies, the output channels fill
// at least 4/5 of the microkernel's NR-channel slivers (one output channel would waste 31 of 32
// lanes: the grad-input of a first layer), and K = c_in * kh * kw is at least 128 (measured:
// the grad-input of a 1x1 256->64 layer, K = 64, runs 25% slower than on the implicit GEMM).
template <typename T>
bool grid_forward_applies(const Conv2dShape& s);

// The zero-padded input grid of a convolution, split into stride phases so that every stride is a
// stride-1 walk: phase (a, b) holds padded input pixel (stride_h * u + a, stride_w * v + b) at
// (u, v), in hp rows of wp values. Only the phases some tap reads are stored (residues of
// p * dil_h mod stride_h and q * dil_w mod stride_w; stride 1: the one phase is the padded
// input itself), phase after phase, `plane` values per input channel. Output pixel (i, j) of
// tap (p, q) reads channel block position tap(p, q) + i * wp + j: for a run of consecutive
// output pixels of one row, every (channel, tap) reads consecutive values.
struct ConvGrid {
    int64_t hp, wp, phase_size, plane;
    std::vector<int64_t> row_phases, col_phases;  // the stored residues, ascending
    explicit ConvGrid(const Conv2dShape& s);
    int64_t tap(const Conv2dShape& s, int64_t p, int64_t q) const;
    // The input itself is the grid (stride 1, no padding is read).
    bool in_place(const Conv2dShape& s) const {
        return s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0 && hp == s.h && wp == s.w;
    }
};

// Planes [c0, c1) of image xb (c_in planes of h x w) into the grid at dst (plane c at c * plane).
template <typename T>
void fill_conv_grid(const Conv2dShape& s, const ConvGrid& g, const T* xb, int64_t c0, int64_t c1, T* dst);

// One stride-1 convolution over a grid, a "part" of a grid convolution: output pixel (i, j),
// i < oh, j < ow, reads channel block position taps[t] + i * wp + j for tap t, weighted by tap
// weight_taps[t] (p * kw + q) of the weights, and goes to the output plane position
// (row0 + i * step_h) * y_w + col0 + j * step_w. The forward is one part; the strided
// grad-input one part per stride phase of dx (grid_grad_input.cpp).
struct GridPart {
    int64_t oh, ow;
    std::vector<int64_t> taps, weight_taps;
    int64_t row0, col0, step_h, step_w;
};

// The weights of a grid convolution with kh * kw = taps: out_major, w[o][c][tap] (OIHW, the
// forward), or in-major, w[c][o][tap] (the grad-input, whose input planes are the forward's
// outputs), with o < c_out the grid convolution's output channels and c < c_in its input planes.
template <typename T>
struct GridWeights {
    const T* w;
    bool out_major;
    int64_t taps;
};

// The grid convolution (grid_conv.cpp): the images of x (shape `in`: n images of c_in planes of
// h x w, with its padding and strides) filled into grids g, the parts run with weights w; y: n
// images of c_out planes of y_h x y_w, written where the parts put their pixels (+ bias, which
// may be null).
template <typename T>
void conv2d_grid_parts(const Conv2dShape& in, const ConvGrid& g, const T* x, const std::vector<GridPart>& parts,
                       const GridWeights<T>& w, int64_t c_out, int64_t y_h, int64_t y_w, const T* bias, T* y);

template <typename T>
void conv2d_grid_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y);

}  // namespace tf::cpu
