// conv2d grad-weight on the padded input grid (see grid_grad_weight.cpp); stride 1, one group.
#pragma once
#include <tensorforge/conv2d.h>

namespace tf::cpu {

template <typename T>
void conv2d_grid_grad_weight(const Conv2dShape& s, const T* x, const T* dy, T* dw);

}  // namespace tf::cpu
