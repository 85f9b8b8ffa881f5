// The inner copy of every im2col variant: one run of output columns reading one input row.
// Plain inline code for the baseline unit only (keep out of ISA-specific files).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

namespace tf::cpu {

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
    if (stride == 1 && t1 - t0 > 32) {
        std::memcpy(dst + t0, row + first + t0, size_t(t1 - t0) * sizeof(T));
    } else if (stride == 1) {
        const T* src = row + first;
        for (int64_t t = t0; t < t1; ++t) dst[t] = src[t];
    } else {
        for (int64_t t = t0; t < t1; ++t) dst[t] = row[first + t * stride];
    }
    for (int64_t t = t1; t < len; ++t) dst[t] = T(0);
}

}  // namespace tf::cpu
