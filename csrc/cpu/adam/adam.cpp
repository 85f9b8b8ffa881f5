// Fused multi-tensor Adam / AdamW driver (tensorforge/adam.h).
//
// Per call: the coefficients of every hyper-parameter entry are derived once on the host in
// double (bias corrections, step size, lerp form; see adam_span.h), then the concatenated length
// of all tensors is cut into one contiguous range per thread (boundaries on 64-byte multiples
// of elements) and each thread walks the tensors its range covers, calling the span kernel of
// the active SIMD path on each piece. One pass: every element is read and written once.
// Calls smaller than kSerialElements run on the calling thread (waking the pool costs more).
#include <tensorforge/adam.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../cpu_features.h"
#include "../thread_pool.h"
#include "adam_span.h"

namespace tf::cpu {
namespace {

constexpr int64_t kSerialElements = 1 << 15;

template <typename T>
AdamCoeffs<T> coeffs(const AdamHyper& h) {
    const double step = static_cast<double>(h.step);
    const double bc1 = 1.0 - std::pow(h.beta1, step), bc2 = 1.0 - std::pow(h.beta2, step);
    const bool decay = h.decoupled_weight_decay && h.weight_decay != 0.0;
    // PyTorch's lerp_(end, w) computes in T: self + w * (end - self) when |w| < 0.5, else
    // end - (end - self) * (1 - w), i.e. end + (w - 1) * (end - self).
    const T w = static_cast<T>(1.0 - h.beta1);
    const bool from_grad = !(std::abs(w) < T(0.5));
    AdamCoeffs<T> c{};
    c.grad_sign = h.maximize ? T(-1) : T(1);
    c.has_l2 = !h.decoupled_weight_decay && h.weight_decay != 0.0;
    c.l2 = c.has_l2 ? static_cast<T>(h.weight_decay) : T(0);
    c.decay = decay ? static_cast<T>(1.0 - h.lr * h.weight_decay) : T(1);
    c.lerp_from_grad = from_grad;
    c.lerp_coeff = from_grad ? w - T(1) : w;
    c.beta2 = static_cast<T>(h.beta2);
    c.one_minus_beta2 = static_cast<T>(1.0 - h.beta2);
    c.neg_step_size = static_cast<T>(-(h.lr / bc1));
    c.bc2_sqrt = static_cast<T>(std::sqrt(bc2));
    c.eps = static_cast<T>(h.eps);
    c.amsgrad = h.amsgrad;
    return c;
}

AdamSpanKernel<float> span_kernel(const float*) {
    switch (active_isa()) {
#if defined(TENSORFORGE_HAVE_X86_KERNELS)
        case Isa::avx512: return adam_span_f32_avx512();
        case Isa::avx2: return adam_span_f32_avx2();
#endif
        default: return adam_span_f32_baseline();
    }
}
AdamSpanKernel<double> span_kernel(const double*) { return adam_span_f64_baseline(); }

template <typename T>
void run(const AdamHyper* hypers, int64_t num_hypers, const AdamTensor<T>* tensors, int64_t num_tensors) {
    std::vector<AdamCoeffs<T>> c(num_hypers);
    for (int64_t h = 0; h < num_hypers; ++h) c[h] = coeffs<T>(hypers[h]);
    std::vector<int64_t> start(num_tensors + 1, 0);  // prefix sums of numel
    for (int64_t t = 0; t < num_tensors; ++t) start[t + 1] = start[t] + tensors[t].numel;
    const int64_t total = start[num_tensors];
    if (total == 0) return;
    const AdamSpanKernel<T> kernel = span_kernel(static_cast<const T*>(nullptr));
    constexpr int64_t kAlign = 64 / sizeof(T);

    auto run_range = [&](int64_t lo, int64_t hi) {
        int64_t t = std::upper_bound(start.begin(), start.end(), lo) - start.begin() - 1;
        for (; t < num_tensors && start[t] < hi; ++t) {
            const AdamTensor<T>& x = tensors[t];
            const int64_t a = std::max(lo, start[t]) - start[t], b = std::min(hi, start[t + 1]) - start[t];
            if (b <= a) continue;
            kernel(c[x.hyper], AdamSpan<T>{x.param + a, x.grad + a, x.exp_avg + a, x.exp_avg_sq + a,
                                           x.max_exp_avg_sq ? x.max_exp_avg_sq + a : nullptr, b - a});
        }
    };
    const int threads = total < kSerialElements ? 1 : get_num_threads();
    if (threads == 1) {
        run_range(0, total);
        return;
    }
    parallel_run(threads, [&](int tid, int nt) {
        auto bound = [&](int k) { return k == nt ? total : std::min(total, total * k / nt / kAlign * kAlign); };
        run_range(bound(tid), bound(tid + 1));
    });
}

}  // namespace

void adam_step(const AdamHyper* hypers, int64_t num_hypers, const AdamTensor<float>* tensors, int64_t num_tensors) {
    run(hypers, num_hypers, tensors, num_tensors);
}
void adam_step(const AdamHyper* hypers, int64_t num_hypers, const AdamTensor<double>* tensors, int64_t num_tensors) {
    run(hypers, num_hypers, tensors, num_tensors);
}

}  // namespace tf::cpu
