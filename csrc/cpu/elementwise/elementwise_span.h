// The contract between the elementwise driver (elementwise.cpp) and its per-ISA span kernels.
//
// Each span kernel runs over a contiguous run of n elements (sum_rows: of rows x cols):
//   relu:             y = x < 0 ? 0 : x
//   relu_backward:    dx = y > 0 ? dy : 0
//   dropout:          h = hash(index_lo + k, key_a, key_b) for k < n; keep[k] = h >= threshold;
//                     y = x * (keep ? scale : 0)    (index_lo + n never wraps: the driver splits there)
//   dropout_backward: dx = dy * (keep ? scale : 0)
//   sum_rows:         sums[c] = sum over r < rows of x[r * cols + c]   (rows >= 1, summed in T)
// hash(i, a, b) = mix(mix(i ^ a) ^ b), mix = the 32-bit "lowbias32" finaliser
// (x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16).
// Each ISA unit (elementwise_span_{baseline,avx2,avx512}.cpp) compiles the same loops
// (elementwise_span.inc) in its own anonymous namespace with its own -m flags.
#pragma once
#include <cstdint>

namespace tf::cpu {

template <typename T>
struct ElementwiseSpans {
    void (*relu)(const T* x, T* y, int64_t n);
    void (*relu_backward)(const T* y, const T* dy, T* dx, int64_t n);
    void (*dropout)(const T* x, T* y, uint8_t* keep, int64_t n, uint32_t index_lo, uint32_t key_a, uint32_t key_b,
                    uint32_t threshold, T scale);
    void (*dropout_backward)(const T* dy, const uint8_t* keep, T* dx, int64_t n, T scale);
    void (*sum_rows)(const T* x, int64_t rows, int64_t cols, T* sums);
};

ElementwiseSpans<float> elementwise_spans_f32_avx512();
ElementwiseSpans<float> elementwise_spans_f32_avx2();
ElementwiseSpans<float> elementwise_spans_f32_baseline();
ElementwiseSpans<double> elementwise_spans_f64_avx512();
ElementwiseSpans<double> elementwise_spans_f64_avx2();
ElementwiseSpans<double> elementwise_spans_f64_baseline();

}  // namespace tf::cpu
