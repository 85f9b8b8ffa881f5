// conv2d forward and grad-weight for one input channel per group (see direct_conv.cpp).
#pragma once
#include <tensorforge/conv2d.h>

namespace tf::cpu {

// True for the shapes the direct path takes: c_in / groups == 1.
bool conv2d_direct_applies(const Conv2dShape& s);

template <typename T>
void conv2d_direct_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y);
template <typename T>
void conv2d_direct_grad_weight(const Conv2dShape& s, const T* x, const T* dy, T* dw);

}  // namespace tf::cpu
