// The per-row softmax steps of the fused attention kernel, one implementation per SIMD path.
//
// row_max(s, n):                 max of s[0..n) (-inf for an all -inf row).
// exp_shifted_sum(s, m, p, n):   p[j] = exp(s[j] - m) for j < n (p may alias s), returns the sum.
//   An argument below about -87 (masked scores are -inf) gives exactly 0.
// The float32 SIMD units evaluate exp as 2^k * poly(r) (range reduction by ln 2, degree-6
// polynomial, relative error ~2e-7); the baseline calls std::exp.
#pragma once
#include <cstdint>

namespace tf::cpu {

template <typename T>
struct AttentionRowOps {
    T (*row_max)(const T* s, int64_t n);
    T (*exp_shifted_sum)(const T* s, T m, T* p, int64_t n);
};

AttentionRowOps<float> attention_row_ops_f32_avx512();
AttentionRowOps<float> attention_row_ops_f32_avx2();
AttentionRowOps<float> attention_row_ops_f32_baseline();
AttentionRowOps<double> attention_row_ops_f64_baseline();

}  // namespace tf::cpu
