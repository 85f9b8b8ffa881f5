// GELU (exact erf form and tanh form) forward and backward, and erf, elementwise
// (tensorforge/activation.h). Layout: contiguous arrays of n elements, split over our thread pool
// in chunks of at least kGrain elements (smaller arrays run on the calling thread).
// float32 runs the per-ISA span kernels (gelu_span.h; erfc in float32 with an exact -x^2/2,
// see gelu_span_f32.inc), chosen once per call from the active ISA. float64 is evaluated here in
// scalar code with the C library's erfc / tanh (about 1 ulp; gradcheck's precision).
#include <tensorforge/activation.h>

#include <cmath>

#include "../cpu_features.h"
#include "../thread_pool.h"
#include "gelu_span.h"

namespace tf::cpu {
namespace {

constexpr int64_t kGrain = 1 << 14;
constexpr double kSqrtHalf = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kTanhK = 0.79788456080286535588, kTanhC = 0.044715;

GeluSpanKernels spans_f32() {
    switch (active_isa()) {
#if defined(TENSORFORGE_HAVE_X86_KERNELS)
        case Isa::avx512: return gelu_spans_f32_avx512();
        case Isa::avx2: return gelu_spans_f32_avx2();
#endif
        default: return gelu_spans_f32_baseline();
    }
}

void over_pool_f32(void (*span)(const float*, float*, int64_t), const float* x, float* y, int64_t n) {
    parallel_for(n, kGrain, [&](int64_t begin, int64_t end) { span(x + begin, y + begin, end - begin); });
}

void over_pool_f32(void (*span)(const float*, const float*, float*, int64_t), const float* x, const float* dy,
                   float* dx, int64_t n) {
    parallel_for(n, kGrain, [&](int64_t begin, int64_t end) { span(x + begin, dy + begin, dx + begin, end - begin); });
}

template <typename Fn>
void over_pool_f64(int64_t n, Fn fn) {
    parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) fn(i);
    });
}

double cdf(double v) { return 0.5 * std::erfc(-v * kSqrtHalf); }
double tanh_u(double v) { return std::tanh(kTanhK * (v + kTanhC * v * v * v)); }

}  // namespace

void gelu_forward(const float* x, float* y, int64_t n) { over_pool_f32(spans_f32().forward, x, y, n); }
void gelu_forward(const double* x, double* y, int64_t n) {
    over_pool_f64(n, [&](int64_t i) { y[i] = x[i] * cdf(x[i]); });
}
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n) {
    over_pool_f32(spans_f32().backward, x, dy, dx, n);
}
void gelu_backward(const double* x, const double* dy, double* dx, int64_t n) {
    over_pool_f64(n, [&](int64_t i) {
        const double v = x[i];
        dx[i] = dy[i] * (cdf(v) + v * kInvSqrt2Pi * std::exp(-0.5 * v * v));
    });
}
void gelu_tanh_forward(const float* x, float* y, int64_t n) { over_pool_f32(spans_f32().tanh_forward, x, y, n); }
void gelu_tanh_forward(const double* x, double* y, int64_t n) {
    over_pool_f64(n, [&](int64_t i) { y[i] = 0.5 * x[i] * (1.0 + tanh_u(x[i])); });
}
void gelu_tanh_backward(const float* x, const float* dy, float* dx, int64_t n) {
    over_pool_f32(spans_f32().tanh_backward, x, dy, dx, n);
}
void gelu_tanh_backward(const double* x, const double* dy, double* dx, int64_t n) {
    over_pool_f64(n, [&](int64_t i) {
        const double v = x[i], t = tanh_u(v);
        const double du = kTanhK * (1.0 + 3.0 * kTanhC * v * v);
        dx[i] = dy[i] * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du);
    });
}
void erf(const float* x, float* y, int64_t n) {
    parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) y[i] = static_cast<float>(std::erf(static_cast<double>(x[i])));
    });
}
void erf(const double* x, double* y, int64_t n) {
    over_pool_f64(n, [&](int64_t i) { y[i] = std::erf(x[i]); });
}

}  // namespace tf::cpu
