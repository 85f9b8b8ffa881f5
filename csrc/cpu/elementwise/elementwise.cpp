// ReLU and dropout, forward and backward, and column sums (tensorforge/elementwise.h). Layout:
// contiguous arrays of n elements (row-major rows x cols for sum_rows), split over our thread pool
// in chunks of at least kGrain elements (smaller arrays run on the calling thread); each chunk runs
// the span kernel of the active ISA (elementwise_span.h). The dropout mask is a hash of the element's index and the seed, so it is
// the same for any thread count and chunking; the driver splits chunks where the low 32 bits of
// the index wrap and folds the high bits into the hash keys.
#include <tensorforge/elementwise.h>

#include <cmath>
#include <vector>

#include "../cpu_features.h"
#include "../thread_pool.h"
#include "elementwise_span.h"

namespace tf::cpu {
namespace {

constexpr int64_t kGrain = 1 << 15;
constexpr int64_t kRowBlock = 32;  // sum_rows: rows summed in T before they are added in float64

template <typename T>
ElementwiseSpans<T> pick(ElementwiseSpans<T> (*avx512)(), ElementwiseSpans<T> (*avx2)(),
                         ElementwiseSpans<T> (*baseline)()) {
    switch (active_isa()) {
#if defined(TENSORFORGE_HAVE_X86_KERNELS)
        case Isa::avx512: return avx512();
        case Isa::avx2: return avx2();
#endif
        default: (void)avx512; (void)avx2; return baseline();
    }
}

ElementwiseSpans<float> spans(float*) {
#if defined(TENSORFORGE_HAVE_X86_KERNELS)
    return pick(elementwise_spans_f32_avx512, elementwise_spans_f32_avx2, elementwise_spans_f32_baseline);
#else
    return elementwise_spans_f32_baseline();
#endif
}

ElementwiseSpans<double> spans(double*) {
#if defined(TENSORFORGE_HAVE_X86_KERNELS)
    return pick(elementwise_spans_f64_avx512, elementwise_spans_f64_avx2, elementwise_spans_f64_baseline);
#else
    return elementwise_spans_f64_baseline();
#endif
}

template <typename T>
ElementwiseSpans<T> spans_for() {
    return spans(static_cast<T*>(nullptr));
}

uint32_t mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

struct DropoutKeys {
    uint32_t a, b;
};

// The hash keys for the elements whose index has high 32 bits `hi`.
DropoutKeys dropout_keys(uint64_t seed, uint32_t hi) {
    return {static_cast<uint32_t>(seed) ^ mix32(hi ^ 0x9e3779b9U), static_cast<uint32_t>(seed >> 32) + hi};
}

uint32_t dropout_threshold(double p) {
    const double t = std::nearbyint(p * 4294967296.0);
    return t >= 4294967295.0 ? 0xffffffffU : t <= 0.0 ? 0U : static_cast<uint32_t>(t);
}

template <typename T>
void relu_forward_t(const T* x, T* y, int64_t n) {
    auto span = spans_for<T>().relu;
    parallel_for(n, kGrain, [&](int64_t begin, int64_t end) { span(x + begin, y + begin, end - begin); });
}

template <typename T>
void relu_backward_t(const T* y, const T* dy, T* dx, int64_t n) {
    auto span = spans_for<T>().relu_backward;
    parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
        span(y + begin, dy + begin, dx + begin, end - begin);
    });
}

template <typename T>
void dropout_forward_t(const T* x, T* y, uint8_t* keep, int64_t n, double p, uint64_t seed) {
    auto span = spans_for<T>().dropout;
    const uint32_t threshold = dropout_threshold(p);
    const T scale = static_cast<T>(1.0 / (1.0 - p));
    parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
        while (begin < end) {  // pieces that share the high 32 bits of the index
            const uint64_t hi = static_cast<uint64_t>(begin) >> 32;
            const int64_t stop = end < static_cast<int64_t>((hi + 1) << 32) ? end : static_cast<int64_t>((hi + 1) << 32);
            const DropoutKeys k = dropout_keys(seed, static_cast<uint32_t>(hi));
            span(x + begin, y + begin, keep + begin, stop - begin, static_cast<uint32_t>(begin), k.a, k.b, threshold,
                 scale);
            begin = stop;
        }
    });
}

template <typename T>
void dropout_backward_t(const T* dy, const uint8_t* keep, T* dx, int64_t n, double scale) {
    auto span = spans_for<T>().dropout_backward;
    const T s = static_cast<T>(scale);
    parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
        span(dy + begin, keep + begin, dx + begin, end - begin, s);
    });
}

// Column sums: rows split over the pool; each thread sums blocks of kRowBlock rows in T with the span
// kernel and adds each block's sums into its own float64 partial; the caller adds the partials in
// thread order.
template <typename T>
void sum_rows_t(const T* x, T* out, int64_t rows, int64_t cols) {
    auto span = spans_for<T>().sum_rows;
    const int64_t chunks = rows * cols / kGrain;
    const int parts = static_cast<int>(chunks < 1 ? 1 : chunks < get_num_threads() ? chunks : get_num_threads());
    std::vector<double> partial(static_cast<size_t>(parts) * static_cast<size_t>(cols), 0.0);
    parallel_run(parts, [&](int tid, int nt) {
        const int64_t r0 = rows * tid / nt, r1 = rows * (tid + 1) / nt;
        double* acc = partial.data() + static_cast<size_t>(tid) * static_cast<size_t>(cols);
        std::vector<T> block(static_cast<size_t>(cols));
        for (int64_t b0 = r0; b0 < r1; b0 += kRowBlock) {
            span(x + b0 * cols, (r1 - b0 < kRowBlock ? r1 - b0 : kRowBlock), cols, block.data());
            for (int64_t c = 0; c < cols; ++c) acc[c] += static_cast<double>(block[c]);
        }
    });
    for (int64_t c = 0; c < cols; ++c) {
        double s = 0.0;
        for (int p = 0; p < parts; ++p) s += partial[static_cast<size_t>(p) * static_cast<size_t>(cols) + c];
        out[c] = static_cast<T>(s);
    }
}

}  // namespace

void sum_rows(const float* x, float* out, int64_t rows, int64_t cols) { sum_rows_t(x, out, rows, cols); }
void sum_rows(const double* x, double* out, int64_t rows, int64_t cols) { sum_rows_t(x, out, rows, cols); }

void relu_forward(const float* x, float* y, int64_t n) { relu_forward_t(x, y, n); }
void relu_forward(const double* x, double* y, int64_t n) { relu_forward_t(x, y, n); }
void relu_backward(const float* y, const float* dy, float* dx, int64_t n) { relu_backward_t(y, dy, dx, n); }
void relu_backward(const double* y, const double* dy, double* dx, int64_t n) { relu_backward_t(y, dy, dx, n); }

void dropout_forward(const float* x, float* y, uint8_t* keep, int64_t n, double p, uint64_t seed) {
    dropout_forward_t(x, y, keep, n, p, seed);
}
void dropout_forward(const double* x, double* y, uint8_t* keep, int64_t n, double p, uint64_t seed) {
    dropout_forward_t(x, y, keep, n, p, seed);
}
void dropout_backward(const float* dy, const uint8_t* keep, float* dx, int64_t n, double scale) {
    dropout_backward_t(dy, keep, dx, n, scale);
}
void dropout_backward(const double* dy, const uint8_t* keep, double* dx, int64_t n, double scale) {
    dropout_backward_t(dy, keep, dx, n, scale);
}

bool dropout_keep(double p, uint64_t seed, int64_t i) {
    const DropoutKeys k = dropout_keys(seed, static_cast<uint32_t>(static_cast<uint64_t>(i) >> 32));
    return mix32(mix32(static_cast<uint32_t>(i) ^ k.a) ^ k.b) >= dropout_threshold(p);
}

}  // namespace tf::cpu
