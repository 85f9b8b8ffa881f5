// conv2d forward as an implicit GEMM (see implicit_gemm.cpp); instantiated for float and double.
#pragma once
#include <tensorforge/conv2d.h>

namespace tf::cpu {

template <typename T>
void conv2d_implicit_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y);

}  // namespace tf::cpu
