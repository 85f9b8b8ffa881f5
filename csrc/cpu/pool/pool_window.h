// Window bounds shared by the pooling kernels (plain inline arithmetic, no ISA-specific code).
#pragma once
#include <algorithm>
#include <cstdint>

#include <tensorforge/pool2d.h>

namespace tf::cpu {

// Input range [lo, hi) of one axis for output position o, clipped to the image; `padded` is the
// window size clipped to the padded image instead (PyTorch's count_include_pad divisor).
struct WindowRange {
    int64_t lo, hi, padded;
};

inline WindowRange avg_window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t size) {
    int64_t lo = o * stride - pad;
    int64_t hi = std::min(lo + k, size + pad);
    int64_t padded = hi - lo;
    return {std::max<int64_t>(lo, 0), std::min(hi, size), padded};
}

inline WindowRange adaptive_window(int64_t o, int64_t out, int64_t size) {
    int64_t lo = o * size / out, hi = ((o + 1) * size + out - 1) / out;
    return {lo, hi, hi - lo};
}

// Planes per parallel chunk: about 64k window reads each, so tiny pools stay on one thread.
inline int64_t plane_grain(const Pool2dShape& s, int64_t window) {
    int64_t work = std::max<int64_t>(1, s.oh * s.ow * window + s.h * s.w);
    return std::max<int64_t>(1, 65536 / work);
}

}  // namespace tf::cpu
