// conv2d grad-weight on the padded input grid (see grid_grad_weight.cpp); one group.
#pragma once
#include <tensorforge/conv2d.h>

namespace tf::cpu {

// Whether the grid grad-weight driver suits this shape: one group, more than one tap,
// and output channels that fill at least 4/5 of the rows microkernel's NR-wide slivers.
template <typename T>
bool grid_grad_weight_applies(const Conv2dShape& s);

template <typename T>
void conv2d_grid_grad_weight(const Conv2dShape& s, const T* x, const T* dy, T* dw);

}  // namespace tf::cpu
