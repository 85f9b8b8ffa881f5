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
    int64_t t0 = first >= 0 ? 0 : (-first + stride - 1) / stride;
    int64_t t1 = size - 1 - first < 0 ? 0 : (size - 1 - first) / stride + 1;
    t1 = std::min(t1, len);
    t0 = std::min(t0, t1);
    std::fill(dst, dst + t0, T(0));
    if (stride == 1) {
        if (t1 > t0) std::memcpy(dst + t0, row + first + t0, size_t(t1 - t0) * sizeof(T));
    } else {
        for (int64_t t = t0; t < t1; ++t) dst[t] = row[first + t * stride];
    }
    std::fill(dst + t1, dst + len, T(0));
}

}  // namespace tf::cpu
