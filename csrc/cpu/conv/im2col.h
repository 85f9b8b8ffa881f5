// im2col / col2im for one NCHW image (see im2col.cpp); instantiated for float and double.
#pragma once
#include <cstdint>

#include <tensorforge/conv2d.h>

namespace tf::cpu {

// col (channels*kh*kw, oh*ow) row (c, p, q), column (i, j) = x[c, i*sh - ph + p*dh, j*sw - pw + q*dw]
// (0 outside the image), for `channels` planes of size h x w starting at x.
template <typename T>
void im2col(const Conv2dShape& s, const T* x, int64_t channels, T* col);

// The adjoint: dx (channels, h, w) = sum of the col entries that read each pixel (dx is overwritten).
template <typename T>
void col2im(const Conv2dShape& s, const T* col, int64_t channels, T* dx);

}  // namespace tf::cpu
