// conv2d grad-weight on the rows microkernels (see grad_weight.cpp); float and double.
#pragma once
#include <tensorforge/conv2d.h>

namespace tf::cpu {

template <typename T>
void conv2d_rows_grad_weight(const Conv2dShape& s, const T* x, const T* dy, T* dw);

}  // namespace tf::cpu
