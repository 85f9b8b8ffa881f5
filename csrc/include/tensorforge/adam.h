// The fused multi-tensor Adam / AdamW step (CPU): one call updates every parameter of a model.
//
// Per element of each tensor, with the hyper-parameters of the tensor's entry in `hypers`
// (PyTorch's torch.optim.Adam / AdamW single-tensor formula, step = the count including this one):
//   g = maximize ? -grad : grad
//   AdamW (decoupled_weight_decay):  p = p * (1 - lr * weight_decay)
//   Adam  (weight_decay != 0):       g = g + weight_decay * p
//   m = lerp(m, g, 1 - beta1)                         (PyTorch's lerp_)
//   v = v * beta2 + (1 - beta2) * g * g
//   amsgrad:  vmax = max(vmax, v), and vmax replaces v below
//   p = p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
// with bc1 = 1 - beta1^step and bc2 = 1 - beta2^step, computed once per entry on the host in
// double. Every array is contiguous with `numel` elements; max_exp_avg_sq is read only when its
// entry has amsgrad (may be null otherwise). Callers validate: hyper-parameters in range
// (beta < 1, step >= 1), hyper indices in range, and no array overlapping another.
#pragma once
#include <cstdint>

namespace tf {

struct AdamHyper {
    double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
    int64_t step = 1;
    bool decoupled_weight_decay = false;  // true: AdamW
    bool amsgrad = false;
    bool maximize = false;
};

template <typename T>
struct AdamTensor {
    T* param = nullptr;
    const T* grad = nullptr;
    T* exp_avg = nullptr;
    T* exp_avg_sq = nullptr;
    T* max_exp_avg_sq = nullptr;
    int64_t numel = 0;
    int64_t hyper = 0;  // index into the hypers array
};

namespace cpu {
// One pass over all tensors, split over the thread pool by the concatenated length.
void adam_step(const AdamHyper* hypers, int64_t num_hypers, const AdamTensor<float>* tensors, int64_t num_tensors);
void adam_step(const AdamHyper* hypers, int64_t num_hypers, const AdamTensor<double>* tensors, int64_t num_tensors);
}  // namespace cpu

}  // namespace tf
