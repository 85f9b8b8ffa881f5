// The 2-D convolution interface that both backends implement (cross-correlation, as PyTorch).
//
// Layouts are dense NCHW / OIHW, C order:
//   x  (n, c_in, h, w)           input
//   w  (c_out, c_in / groups, kh, kw)
//   y  (n, c_out, oh, ow)        y[b, o, i, j] = bias[o] + sum_{c, p, q} w[o, c, p, q] *
//                                  x[b, g * c_in/groups + c, i*stride_h - pad_h + p*dil_h, j*stride_w - pad_w + q*dil_w]
//                                with g = o / (c_out/groups) and x = 0 outside the image.
// pad_h / pad_w are the top / left padding; the bottom / right padding is implied by oh / ow
// (so asymmetric 'same' padding needs no copy). Callers validate shapes; these functions trust them.
//   conv2d_forward:     y = conv(x, w) + bias       (bias may be null; y is write-only)
//   conv2d_grad_input:  dx = d(sum y*dy)/dx          (dx is write-only)
//   conv2d_grad_weight: dw = d(sum y*dy)/dw          (dw is write-only; the bias gradient is a plain sum)
#pragma once
#include <cstdint>

namespace tf {

struct Conv2dShape {
    int64_t n = 0, c_in = 0, h = 0, w = 0;
    int64_t c_out = 0, kh = 0, kw = 0;
    int64_t oh = 0, ow = 0;
    int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
    int64_t groups = 1;
};

namespace cpu {
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y);
void conv2d_forward(const Conv2dShape& s, const double* x, const double* w, const double* bias, double* y);
void conv2d_grad_input(const Conv2dShape& s, const float* dy, const float* w, float* dx);
void conv2d_grad_input(const Conv2dShape& s, const double* dy, const double* w, double* dx);
void conv2d_grad_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw);
void conv2d_grad_weight(const Conv2dShape& s, const double* x, const double* dy, double* dw);
}  // namespace cpu

}  // namespace tf
