// Exact GELU and erf, elementwise: y = x Phi(x) and its derivative Phi(x) + x phi(x), with
// Phi(x) = 0.5 erfc(-x / sqrt 2) from the C library (about 1 ulp, also in float64, where numpy has
// no erf; the erfc form keeps full relative accuracy for negative x, where 1 + erf cancels).
// Layout: contiguous arrays of n elements; the range is split over our thread pool in chunks of at
// least kGrain elements. float32 inputs are evaluated in float64 and
// rounded once: erfc's argument is ill-conditioned for large |x| (2 z^2), so a float32 evaluation
// would lose up to 1e-6 relative.
#include <tensorforge/activation.h>

#include <cmath>

#include "../thread_pool.h"

namespace tf::cpu {
namespace {

constexpr int64_t kGrain = 1 << 14;
constexpr double kSqrtHalf = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

template <typename T>
void gelu_forward_impl(const T* x, T* y, int64_t n) {
    parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const double v = x[i];
            y[i] = T(0.5 * v * std::erfc(-v * kSqrtHalf));
        }
    });
}

template <typename T>
void gelu_backward_impl(const T* x, const T* dy, T* dx, int64_t n) {
    parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const double v = x[i];
            const double cdf = 0.5 * std::erfc(-v * kSqrtHalf);
            const double pdf = kInvSqrt2Pi * std::exp(-0.5 * v * v);
            dx[i] = T(dy[i] * (cdf + v * pdf));
        }
    });
}

template <typename T>
void erf_impl(const T* x, T* y, int64_t n) {
    parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) y[i] = T(std::erf(double(x[i])));
    });
}

}  // namespace

void gelu_forward(const float* x, float* y, int64_t n) { gelu_forward_impl(x, y, n); }
void gelu_forward(const double* x, double* y, int64_t n) { gelu_forward_impl(x, y, n); }
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n) { gelu_backward_impl(x, dy, dx, n); }
void gelu_backward(const double* x, const double* dy, double* dx, int64_t n) { gelu_backward_impl(x, dy, dx, n); }
void erf(const float* x, float* y, int64_t n) { erf_impl(x, y, n); }
void erf(const double* x, double* y, int64_t n) { erf_impl(x, y, n); }

}  // namespace tf::cpu
