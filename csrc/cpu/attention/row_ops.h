// The per-row softmax steps of the fused attention kernel, one implementation per SIMD path.
//
// row_max(s, n):                 max of s[0..n) (-inf for an all -inf row).
// exp_shifted_sum(s, m, p, n):   p[j] = exp(s[j] - m) for j < n (p may alias s), returns the sum.
//   An argument below about -87 (masked scores are -inf) gives exactly 0.
// softmax_grad(p, dp, lse, d, n, n_pad): the backward's per-row step from the recomputed scores in
//   p and dp = dout . v_j: p[j] = exp(p[j] - lse), dp[j] = p[j] * (dp[j] - d) for j < n; both zero
//   for n <= j < n_pad.
// The float32 SIMD units evaluate exp as 2^k * poly(r) (range reduction by ln 2, degree-6
// polynomial, relative error ~2e-7); the baseline calls std::exp.
#pragma once
#include <cstdint>

namespace tf::cpu {

template <typename T>
struct AttentionRowOps {
    T (*row_max)(const T* s, int64_t n);
    T (*exp_shifted_sum)(const T* s, T m, T* p, int64_t n);
    void (*softmax_grad)(T* p, T* dp, T lse, T d, int64_t n, int64_t n_pad);
};

AttentionRowOps<float> attention_row_ops_f32_avx512();
AttentionRowOps<float> attention_row_ops_f32_avx2();
AttentionRowOps<float> attention_row_ops_f32_baseline();
AttentionRowOps<double> attention_row_ops_f64_baseline();

}  // namespace tf::cpu
