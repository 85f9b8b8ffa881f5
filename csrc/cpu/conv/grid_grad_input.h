// conv2d grad-input with a stride above 1 on the grid driver (see grid_grad_input.cpp); one group.
#pragma once
#include <tensorforge/conv2d.h>

namespace tf::cpu {

// Whether the strided grid grad-input suits this shape: one group, a stride above 1, every dx
// row and column reached by some tap (stride phases without taps: the W^T dY + col2im path),
// dx's channels filling at least 4/5 of the grid microkernel's slivers, and a mean GEMM depth
// per phase (c_out * kh * kw / (stride_h * stride_w)) of at least 128, as the forward.
template <typename T>
bool grid_grad_input_applies(const Conv2dShape& s);

template <typename T>
void conv2d_grid_grad_input(const Conv2dShape& s, const T* dy, const T* w, T* dx);

// The grad-input of a stride-1, one-group convolution as the grid forward t of dy (conv2d.cpp:
// grad_input_as_forward) with w's taps flipped and w read in-major (no flipped copy of w).
template <typename T>
void conv2d_grid_flipped_forward(const Conv2dShape& t, const T* dy, const T* w, T* dx);

}  // namespace tf::cpu
