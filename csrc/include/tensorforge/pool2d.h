// The 2-D pooling interface that both backends implement.
//
// Every array is a stack of `planes` dense (h, w) input or (oh, ow) output planes (NCHW with
// planes = n * c), C order. Window (i, j) of an output plane covers input rows
// i*stride_h - pad_h + p*dil_h for p < kh (columns likewise); the caller computes oh / ow
// (floor or ceil mode). Outputs are write-only.
//   max_pool2d:  y = max over the window's in-image elements; idx = its flat index r*w + c in the
//                plane (the first maximum; NaN wins, as in PyTorch)
//   avg_pool2d:  y = sum over the window / divisor, where the divisor is divisor_override when > 0,
//                else the window's size clipped to the padded image (count_include_pad) or to the
//                image itself (dilation is 1)
//   adaptive_avg_pool2d: window rows [floor(i*h/oh), ceil((i+1)*h/oh)), likewise columns
// Backward passes write the whole dx.
#pragma once
#include <cstdint>

namespace tf {

struct Pool2dShape {
    int64_t planes = 0, h = 0, w = 0, oh = 0, ow = 0;
    int64_t kh = 1, kw = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
};

namespace cpu {
void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y, int64_t* idx);
void max_pool2d_forward(const Pool2dShape& s, const double* x, double* y, int64_t* idx);
void max_pool2d_backward(const Pool2dShape& s, const float* dy, const int64_t* idx, float* dx);
void max_pool2d_backward(const Pool2dShape& s, const double* dy, const int64_t* idx, double* dx);

void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, int64_t divisor_override, const float* x, float* y);
void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, int64_t divisor_override, const double* x,
                        double* y);
void avg_pool2d_backward(const Pool2dShape& s, bool count_include_pad, int64_t divisor_override, const float* dy,
                         float* dx);
void avg_pool2d_backward(const Pool2dShape& s, bool count_include_pad, int64_t divisor_override, const double* dy,
                         double* dx);

// Only planes, h, w, oh, ow of the shape are read.
void adaptive_avg_pool2d_forward(const Pool2dShape& s, const float* x, float* y);
void adaptive_avg_pool2d_forward(const Pool2dShape& s, const double* x, double* y);
void adaptive_avg_pool2d_backward(const Pool2dShape& s, const float* dy, float* dx);
void adaptive_avg_pool2d_backward(const Pool2dShape& s, const double* dy, double* dx);
}  // namespace cpu

}  // namespace tf
