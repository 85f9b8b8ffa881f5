// The inner copies of every im2col variant and of the grid fill: one run of output columns
// reading one input row, short runs of values.
// Plain inline code for the baseline unit only (keep out of ISA-specific files).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

namespace tf::cpu {

// n values from src to dst (not overlapping) in blocks of 16 bytes or more, the last block
// overlapping the one before, or one memcpy for long runs: GCC turns a plain copy loop into a
// memmove call, which costs more than the copy itself on the runs of a few dozen values that
// packing and the grid fill move (measured: a third of a 1x1 256->64@56 forward).
template <typename T>
inline void copy_short(const T* src, int64_t n, T* dst) {
    constexpr int64_t B = 16 / sizeof(T) > 0 ? 16 / sizeof(T) : 1;
    if (n > 64) {
        std::memcpy(dst, src, size_t(n) * sizeof(T));
    } else if (n >= B) {
        for (int64_t v = 0; v + B < n; v += B) std::memcpy(dst + v, src + v, B * sizeof(T));
        std::memcpy(dst + n - B, src + n - B, B * sizeof(T));
    } else {
        for (int64_t v = 0; v < n; ++v) dst[v] = src[v];
    }
}

// dst[t] = row[first + t * stride] for t < len where that index lies in [0, size), else 0.
template <typename T>
inline void copy_tap_run(const T* row, int64_t first, int64_t stride, int64_t size, int64_t len, T* dst) {
    int64_t t0, t1;  // the valid t from [t0, t1)
    if (stride == 1) {  // the common case, without divisions
        t0 = std::min(std::max<int64_t>(-first, 0), len);
        t1 = std::max(std::min(size - first, len), t0);
    } else {
        t0 = first >= 0 ? 0 : (-first + stride - 1) / stride;
        t1 = size - 1 - first < 0 ? 0 : (size - 1 - first) / stride + 1;
        t1 = std::min(t1, len);
        t0 = std::min(t0, t1);
    }
    // plain loops for the short runs of packing, where a library call costs more than the copy
    for (int64_t t = 0; t < t0; ++t) dst[t] = T(0);
    if (stride == 1) {
        copy_short(row + first + t0, t1 - t0, dst + t0);
    } else {
        for (int64_t t = t0; t < t1; ++t) dst[t] = row[first + t * stride];
    }
    for (int64_t t = t1; t < len; ++t) dst[t] = T(0);
}

}  // namespace tf::cpu
