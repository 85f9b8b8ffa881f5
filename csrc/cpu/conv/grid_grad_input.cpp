// conv2d grad-input with a stride above 1 on the grid driver: one stride-1 convolution of dy per
// stride phase of dx, no col2im.
//
// Along one axis, dx row X gathers dy[i] * w[p] over the taps with X = stride * i + p * dil - pad.
// For the dx rows of one residue a = (X + pad) mod stride only the taps with p * dil = a
// (mod stride) contribute, with i = U - m_p, where X + pad = stride * U + a and
// m_p = (p * dil - a) / stride: a stride-1 correlation of dy with those taps. So dx splits into
// stride_h * stride_w phases (every stride-th row and column from the first of each residue),
// each a stride-1 convolution over one zero-padded grid of dy (padded above / left by the
// farthest reach of any tap) with its own taps, output positions, and weights (w transposed:
// dx channels from dy channels, rows [c_in][c_out][tap]): grid_conv.cpp's conv2d_grid_parts.
// Layout: dy NCHW, w OIHW, dx NCHW.
#include "grid_grad_input.h"

#include <algorithm>
#include <vector>

#include "../thread_pool.h"
#include "conv_scratch.h"
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
    std::vector<const T*> weights;
    const int64_t taps = s.kh * s.kw;
    T* gathered = conv_scratch<33, T>(size_t(s.c_in * s.c_out * taps));
    for (const Phase& r : rows)
        for (const Phase& c : cols) {
            if (r.count == 0 || c.count == 0) continue;
            GridPart part{r.count, c.count, {}, r.x0, c.x0, s.stride_h, s.stride_w};
            for (size_t i = 0; i < r.taps.size(); ++i)
                for (size_t j = 0; j < c.taps.size(); ++j)
                    part.taps.push_back((t.pad_h + r.u0 - r.reach[i]) * g.wp + t.pad_w + c.u0 - c.reach[j]);
            // rows [ci][c][tap] = w[c][ci][p][q] over the phase's taps
            const int64_t nt = int64_t(part.taps.size());
            T* dst = gathered;
            parallel_for(s.c_in, 8, [&](int64_t c0, int64_t c1) {
                for (int64_t ci = c0; ci < c1; ++ci)
                    for (int64_t o = 0; o < s.c_out; ++o) {
                        T* row = dst + (ci * s.c_out + o) * nt;
                        const T* src = w + (o * s.c_in + ci) * taps;
                        for (size_t i = 0; i < r.taps.size(); ++i)
                            for (size_t j = 0; j < c.taps.size(); ++j)
                                *row++ = src[r.taps[i] * s.kw + c.taps[j]];
                    }
            });
            weights.push_back(gathered);
            gathered += s.c_in * s.c_out * nt;
            parts.push_back(std::move(part));
        }
    conv2d_grid_parts(t, g, dy, parts, weights, s.c_in, s.h, s.w, static_cast<const T*>(nullptr), dx);
}

template bool grid_grad_input_applies<float>(const Conv2dShape&);
template bool grid_grad_input_applies<double>(const Conv2dShape&);
template void conv2d_grid_grad_input<float>(const Conv2dShape&, const float*, const float*, float*);
template void conv2d_grid_grad_input<double>(const Conv2dShape&, const double*, const double*, double*);

}  // namespace tf::cpu
