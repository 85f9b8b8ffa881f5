// Microkernels of the padded-grid convolution (grid_conv.cpp): a stride-1 convolution on an input
// whose planes are zero-padded into a grid of width Wp, so that output pixel (i, j) reads grid
// position i * Wp + j + tap_offset for every kernel tap. A tile of consecutive pixels of one
// output row then reads consecutive input values per (channel, tap): no im2col.
//
// run(rows, width, jump, a, plane, planes, taps, ntaps, edges, b, b_plane, c, ldc, accumulate), rows in
// [1, max_rows], computes the rows x NR tile
//   acc[r][j] = sum_{o < planes} sum_{t < ntaps} a[o * plane + taps[t] + pix(r)] * b[o * b_plane + t * NR + j]
// (pixels r as rows, broadcast from the input in place; b a packed weight sliver of NR output
// channels with b_plane >= ntaps * NR values per input plane, so that a caller may leave out taps
// at either end of its list), where pix(r) = r for a tile inside one output row (width == rows),
// and pix(r) = (r / width) * jump + r % width for whole short output rows `jump` apart
// (multi_row kernels only: width 4..7 and rows = 2 * width, or 8 / 12 at width 4), and writes it
// from registers into the row-major tile at c (row stride ldc): c = acc, or c += acc when
// accumulate. edges (may be null) tells per tap t whether each row's first pixel (bit 0 of
// edges[t]) or last pixel (bit 1) reads only zero padding there: a kernel may leave those
// products out (the AVX-512 one does) or compute them (they add zeros).
// One per ISA, chosen at run time by grid_microkernel().
#pragma once
#include <cstdint>

namespace tf::cpu {

template <typename T>
struct GridMicrokernel {
    int max_rows, nr;
    bool multi_row;  // tiles of two or three short output rows
    void (*run)(int rows, int width, int64_t jump, const T* a, int64_t plane, int64_t planes, const int64_t* taps,
                int64_t ntaps, const unsigned char* edges, const T* b, int64_t b_plane, T* c, int64_t ldc,
                bool accumulate);
};

GridMicrokernel<float> grid_microkernel_f32_avx512();     // up to 14 x 32, zmm
GridMicrokernel<float> grid_microkernel_f32_avx2();       // up to 6 x 16, ymm
GridMicrokernel<float> grid_microkernel_f32_baseline();   // up to 4 x 16, portable C++
GridMicrokernel<double> grid_microkernel_f64_baseline();  // up to 4 x 8, portable C++

GridMicrokernel<float> grid_microkernel(float);  // for the active ISA (cpu_features.h)
GridMicrokernel<double> grid_microkernel(double);

}  // namespace tf::cpu
