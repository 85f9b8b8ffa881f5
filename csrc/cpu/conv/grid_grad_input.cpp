// conv2d grad-input with a stride above 1 on the grid driver: one stride-1 convolution of dy per
// stride phase of dx, no col2im.
//
// Along one axis, dx row X gathers dy[i] * w[p] over the taps with X = stride * i + p * dil - pad.
// For the dx rows of one residue a = (X + pad) mod stride only the taps with p * dil = a
// (mod stride) contribute, with i = U - m_p, where X + pad = stride * U + a and
// m_p = (p * dil - a) / stride: a stride-1 correlation of dy with those taps. So dx splits into
// stride_h * stride_w phases (every stride-th row and column from the first of each residue),
// each a stride-1 convolution over one zero-padded grid of dy (padded above / left by the
// farthest reach of any tap) with its own taps, output positions, and weights (w read in-major:
// dx channels from dy channels): grid_conv.cpp's conv2d_grid_parts.
// With stride 1 the grad-input is one such convolution, with every tap, flipped
// (conv2d_grid_flipped_forward). Layout: dy NCHW, w OIHW, dx NCHW.
#include "grid_grad_input.h"

#include <algorithm>
#include <vector>

#include "grid_conv.h"
#include "grid_microkernel.h"

namespace tf::cpu {
namespace {

constexpr int64_t MIN_DEPTH = 128;  // as the forward (grid_conv.h): mean GEMM depth over the phases

// One residue a of an axis: dx rows x0, x0 + stride, ... (count of them) read dy rows
// u0 + u - reach[t] for the taps p = taps[t].
struct Phase {
    int64_t x0, count, u0;
    std::vector<int64_t> taps, reach;
};

std::vector<Phase> phases(int64_t size, int64_t k, int64_t dil, int64_t stride, int64_t pad) {
    std::vector<Phase> out;
    for (int64_t a = 0; a < stride; ++a) {
        Phase ph;
        ph.x0 = ((a - pad) % stride + stride) % stride;
        ph.count = ph.x0 < size ? (size - ph.x0 + stride - 1) / stride : 0;
        ph.u0 = (ph.x0 + pad - a) / stride;
        for (int64_t p = 0; p < k; ++p)
            if (p * dil % stride == a) ph.taps.push_back(p), ph.reach.push_back((p * dil - a) / stride);
        out.push_back(ph);
    }
    return out;
}

// Every dx row of the axis gets a tap.
bool covered(const std::vector<Phase>& axis) {
    return std::all_of(axis.begin(), axis.end(), [](const Phase& p) { return p.count == 0 || !p.taps.empty(); });
}

// The dy padding above the grid (so that every tap's offset is >= 0) and the grid's length.
void extent(const std::vector<Phase>& axis, int64_t dy_size, int64_t& pad, int64_t& length) {
    pad = 0;
    for (const Phase& p : axis)
        for (const int64_t r : p.reach) pad = std::max(pad, r - p.u0);
    length = pad + dy_size;
    for (const Phase& p : axis)
        for (const int64_t r : p.reach) length = std::max(length, pad + p.u0 - r + p.count);
}

}  // namespace

template <typename T>
bool grid_grad_input_applies(const Conv2dShape& s) {
    if (s.groups != 1 || (s.stride_h == 1 && s.stride_w == 1)) return false;
    const int64_t nr = grid_microkernel(T(0)).nr, padded = (s.c_in + nr - 1) / nr * nr;
    return 5 * s.c_in >= 4 * padded && s.c_out * s.kh * s.kw >= MIN_DEPTH * s.stride_h * s.stride_w &&
           covered(phases(s.h, s.kh, s.dil_h, s.stride_h, s.pad_h)) &&
           covered(phases(s.w, s.kw, s.dil_w, s.stride_w, s.pad_w));
}

template <typename T>
void conv2d_grid_grad_input(const Conv2dShape& s, const T* dy, const T* w, T* dx) {
    const std::vector<Phase> rows = phases(s.h, s.kh, s.dil_h, s.stride_h, s.pad_h);
    const std::vector<Phase> cols = phases(s.w, s.kw, s.dil_w, s.stride_w, s.pad_w);
    Conv2dShape t;  // dy as the input of 1x1 stride-1 "convolutions" whose grid is the padded dy
    t.n = s.n, t.c_in = s.c_out, t.h = s.oh, t.w = s.ow, t.c_out = s.c_in, t.kh = t.kw = 1;
    extent(rows, s.oh, t.pad_h, t.oh);
    extent(cols, s.ow, t.pad_w, t.ow);
    const ConvGrid g(t);
    std::vector<GridPart> parts;
    for (const Phase& r : rows)
        for (const Phase& c : cols) {
            if (r.count == 0 || c.count == 0) continue;
            GridPart part{r.count, c.count, {}, {}, r.x0, c.x0, s.stride_h, s.stride_w};
            for (size_t i = 0; i < r.taps.size(); ++i)
                for (size_t j = 0; j < c.taps.size(); ++j) {
                    part.taps.push_back((t.pad_h + r.u0 - r.reach[i]) * g.wp + t.pad_w + c.u0 - c.reach[j]);
                    part.weight_taps.push_back(r.taps[i] * s.kw + c.taps[j]);
                }
            parts.push_back(std::move(part));
        }
    // w (OIHW) is in-major for this convolution: its inputs are dy's c_out planes
    conv2d_grid_parts(t, g, dy, parts, GridWeights<T>{w, false, s.kh * s.kw}, s.c_in, s.h, s.w,
                      static_cast<const T*>(nullptr), dx);
}

template <typename T>
void conv2d_grid_flipped_forward(const Conv2dShape& t, const T* dy, const T* w, T* dx) {
    const ConvGrid g(t);
    const int64_t taps = t.kh * t.kw;
    GridPart part{t.oh, t.ow, {}, {}, 0, 0, 1, 1};
    for (int64_t p = 0; p < t.kh; ++p)  // weight tap (p, q) in order, at the flipped grid tap
        for (int64_t q = 0; q < t.kw; ++q)
            part.taps.push_back(g.tap(t, t.kh - 1 - p, t.kw - 1 - q)), part.weight_taps.push_back(p * t.kw + q);
    conv2d_grid_parts(t, g, dy, {part}, GridWeights<T>{w, false, taps}, t.c_out, t.oh, t.ow,
                      static_cast<const T*>(nullptr), dx);
}

template bool grid_grad_input_applies<float>(const Conv2dShape&);
template bool grid_grad_input_applies<double>(const Conv2dShape&);
template void conv2d_grid_grad_input<float>(const Conv2dShape&, const float*, const float*, float*);
template void conv2d_grid_grad_input<double>(const Conv2dShape&, const double*, const double*, double*);
template void conv2d_grid_flipped_forward<float>(const Conv2dShape&, const float*, const float*, float*);
template void conv2d_grid_flipped_forward<double>(const Conv2dShape&, const double*, const double*, double*);

}  // namespace tf::cpu
