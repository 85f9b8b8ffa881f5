// Portable row softmax steps for the attention kernel (row_ops.h): plain loops and std::exp.
#include <cmath>
#include <limits>

#include "row_ops.h"

namespace tf::cpu {
namespace {

template <typename T>
T row_max(const T* s, int64_t n) {
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < n; ++j) m = s[j] > m ? s[j] : m;
    return m;
}

template <typename T>
T exp_shifted_sum(const T* s, T m, T* p, int64_t n) {
    T sum = 0;
    for (int64_t j = 0; j < n; ++j) {
        T e = std::exp(s[j] - m);
        p[j] = e;
        sum += e;
    }
    return sum;
}

template <typename T>
void softmax_grad(T* p, T* dp, T lse, T d, int64_t n, int64_t n_pad) {
    for (int64_t j = 0; j < n; ++j) {
        p[j] = std::exp(p[j] - lse);
        dp[j] = p[j] * (dp[j] - d);
    }
    for (int64_t j = n; j < n_pad; ++j) p[j] = dp[j] = T(0);
}

}  // namespace

AttentionRowOps<float> attention_row_ops_f32_baseline() {
    return {&row_max<float>, &exp_shifted_sum<float>, &softmax_grad<float>};
}
AttentionRowOps<double> attention_row_ops_f64_baseline() {
    return {&row_max<double>, &exp_shifted_sum<double>, &softmax_grad<double>};
}

}  // namespace tf::cpu
