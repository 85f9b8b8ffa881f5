// conv2d forward on a padded grid (see grid_conv.cpp); stride 1, one group; float and double.
#pragma once
#include <tensorforge/conv2d.h>

namespace tf::cpu {

// Whether the grid drivers apply: stride 1 and one group.
bool grid_conv_applies(const Conv2dShape& s);

// Whether the grid forward driver suits this shape: grid_conv_applies, the output channels fill
// at least 4/5 of the microkernel's NR-channel slivers (one output channel would waste 31 of 32
// lanes: the grad-input of a first layer), and K = c_in * kh * kw is at least 128 (measured:
// the grad-input of a 1x1 256->64 layer, K = 64, runs 25% slower than on the implicit GEMM).
template <typename T>
bool grid_forward_applies(const Conv2dShape& s);

// The zero-padded input grid of a stride-1 convolution: hp rows of wp values per plane, with
// output pixel (i, j) of tap (p, q) reading grid position (i + p*dil_h) * wp + j + q*dil_w.
struct ConvGrid {
    int64_t hp, wp, plane;
    explicit ConvGrid(const Conv2dShape& s)
        : hp(s.oh + (s.kh - 1) * s.dil_h), wp(s.ow + (s.kw - 1) * s.dil_w), plane(hp * wp) {}
    // The input itself is the grid (no padding is read).
    bool in_place(const Conv2dShape& s) const { return s.pad_h == 0 && s.pad_w == 0 && hp == s.h && wp == s.w; }
};

// Planes [c0, c1) of image xb (c_in planes of h x w) into the grid at dst (plane c at c * plane).
template <typename T>
void fill_conv_grid(const Conv2dShape& s, const ConvGrid& g, const T* xb, int64_t c0, int64_t c1, T* dst);

template <typename T>
void conv2d_grid_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y);

}  // namespace tf::cpu
