// The CUDA backend's plain C++ API: no CUDA or pybind11 headers, so the bindings compile
// with the host compiler. Device pointers are passed as raw addresses; `stream` is a
// cudaStream_t as an integer (cupy's current stream), 0 for the legacy default stream.
// Every function throws std::runtime_error naming the failing call, file and line.
// In a build without CUDA (TENSORFORGE_CUDA=OFF) the same names exist (cuda_stubs.cpp):
// the queries answer "not built / 0 devices" and everything else throws std::runtime_error.
#pragma once
#include <cstdint>
#include <string>

#include <tensorforge/conv2d.h>
#include <tensorforge/gemm.h>
#include <tensorforge/pool2d.h>

namespace tf::cuda {

bool is_built();          // true only in a build that compiled the .cu files
int device_count();       // 0 when there is no driver or no device; never throws
std::string build_info(); // CUDA version and architectures compiled

// Throws std::runtime_error ("no CUDA device is visible ...") unless a device can be used.
void require_device();
// The device that the calling thread's kernels launch on (cudaGetDevice).
int current_device();
// Where a pointer lives: the device ordinal for device memory, -2 for managed memory
// (usable from any device), -1 for host or unknown memory. Throws on a CUDA error.
int pointer_device(uintptr_t ptr);

// C = alpha * op(A) * op(B) + beta * C in float32, row-major, with exactly the semantics of
// tf::cpu::gemm (see gemm.h): transpose flags, leading dimensions, beta == 0 means C is
// write-only, strided batch (stride 0 broadcasts an input). `a`, `b`, `c` are device
// addresses of float; the kernel is enqueued on `stream` and this returns without waiting.
// Callers validate shapes and that C overlaps neither A nor B.
void gemm(const GemmShape& s, float alpha, uintptr_t a, uintptr_t b, float beta, uintptr_t c,
          const GemmBatch& batch, uintptr_t stream);

// How the float32 products of gemm_tensor_core are taken (PyTorch's float32_matmul_precision
// "high" and "medium"): inputs rounded to tf32 or to bfloat16, float32 accumulation.
enum class MatmulPrecision { tf32, bf16 };

// The same C = alpha * op(A) * op(B) + beta * C on float32 storage, with the products on the
// tensor cores at `precision` (gemm_tensor_core.cu). Throws on GPUs below compute capability 8.0.
void gemm_tensor_core(const GemmShape& s, float alpha, uintptr_t a, uintptr_t b, float beta, uintptr_t c,
                      const GemmBatch& batch, MatmulPrecision precision, uintptr_t stream);

// The same again on Hopper's wgmma instructions (gemm_wgmma.cu, sm_90a only). wgmma_available():
// the current device has compute capability 9.0 and runs this build's sm_90a image (probed once per
// device); gemm_wgmma throws otherwise. tensor_core_path() names the kernel that precision "high" /
// "medium" use on the current device: "wgmma (...)", "mma.sync (...)" or "none (why)".
bool wgmma_available();
std::string tensor_core_path();
void gemm_wgmma(const GemmShape& s, float alpha, uintptr_t a, uintptr_t b, float beta, uintptr_t c,
                const GemmBatch& batch, MatmulPrecision precision, uintptr_t stream);

// LayerNorm over the last dimension of a contiguous (rows, cols) float32 array (layer_norm.cu):
// y = (x - mean) * rstd * gamma + beta, saving mean and rstd (rows,). gamma / beta may be 0 (none).
void layer_norm_forward(int64_t rows, int64_t cols, float eps, uintptr_t x, uintptr_t gamma, uintptr_t beta,
                        uintptr_t y, uintptr_t mean, uintptr_t rstd, uintptr_t stream);
// Its backward from the saved mean and rstd: dx (skipped when 0), dgamma and dbeta (each skipped
// when 0; summed with atomics, so not bitwise reproducible). gamma may be 0 (none).
void layer_norm_backward(int64_t rows, int64_t cols, uintptr_t x, uintptr_t gamma, uintptr_t mean, uintptr_t rstd,
                         uintptr_t dy, uintptr_t dx, uintptr_t dgamma, uintptr_t dbeta, uintptr_t stream);

// GELU of n contiguous float32 (gelu.cu), exact (erf) or tanh-approximated; backward writes
// dx = gelu'(x) * dy.
void gelu_forward(int64_t n, bool tanh_approx, uintptr_t x, uintptr_t y, uintptr_t stream);
void gelu_backward(int64_t n, bool tanh_approx, uintptr_t x, uintptr_t dy, uintptr_t dx, uintptr_t stream);

// Softmax (log=false) or log-softmax (log=true) over the last dimension of a contiguous (rows, cols)
// float32 array (softmax.cu). The backward takes the forward's output y and writes
// dx = y * (dy - sum(dy * y)) (softmax) or dx = dy - exp(y) * sum(dy) (log-softmax), per row.
void softmax_forward(int64_t rows, int64_t cols, bool log, uintptr_t x, uintptr_t y, uintptr_t stream);
void softmax_backward(int64_t rows, int64_t cols, bool log, uintptr_t y, uintptr_t dy, uintptr_t dx, uintptr_t stream);

// Fused cross-entropy of contiguous (rows, classes) float32 logits against int64 class indices
// (cross_entropy.cu), PyTorch's semantics for class weights (float32 (classes,) or 0),
// ignore_index and label_smoothing. The forward writes per-row loss (reduction 'none'), stats
// ((rows, 2): the row's max and log sum exp(x - max), whose sum is the log-sum-exp; for the
// backward) and row_weight (weight[target], 0 for ignored rows: the
// divisor of 'mean' is their sum), and sets *bad_row (one uint64, set to all ones first) to the
// smallest row whose target is out of range (such rows get NaN); read it back to raise an error.
// The backward writes dlogits = grad_r * (softmax * sum(coef) - coef) with coef the smoothed,
// weighted one-hot target; grad is one float32 per row (grad_stride 1) or one value (stride 0).
struct CrossEntropyArgs {
    int64_t rows = 0, classes = 0;
    int64_t ignore_index = -100;
    float label_smoothing = 0.f;
};
void cross_entropy_forward(const CrossEntropyArgs& a, uintptr_t logits, uintptr_t target, uintptr_t weight,
                           uintptr_t loss, uintptr_t stats, uintptr_t row_weight, uintptr_t bad_row, uintptr_t stream);
void cross_entropy_backward(const CrossEntropyArgs& a, uintptr_t logits, uintptr_t target, uintptr_t weight,
                            uintptr_t stats, uintptr_t grad, int64_t grad_stride, uintptr_t dlogits, uintptr_t stream);

// One fused Adam / AdamW step over a list of float32 tensors, one launch.
//   `table` is a device array of int64, 5 rows of `num_tensors` entries (row-major):
//     row 0: param addresses, 1: grad addresses, 2: exp_avg addresses, 3: exp_avg_sq addresses,
//     row 4: element counts. Each tensor is contiguous; all four of a tensor have its count.
//   `total_elements` (the sum of row 4) only sizes the grid; 0 launches nothing.
// The formula is PyTorch's (torch.optim.Adam / AdamW, amsgrad=False, maximize=False):
//   AdamW (decoupled):  p -= lr * weight_decay * p        Adam: g += weight_decay * p
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
//   p -= lr / bias_correction1 * m / (sqrt(v) / sqrt(bias_correction2) + eps)
// with bias_correction1 = 1 - beta1^step and bias_correction2 = 1 - beta2^step computed by the
// caller on the host.
struct AdamArgs {
    double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
    double bias_correction1 = 1.0, bias_correction2 = 1.0;
    bool decoupled_weight_decay = true;  // true: AdamW; false: Adam (L2 added to the gradient)
};
void adam_step(const AdamArgs& args, uintptr_t table, int64_t num_tensors, int64_t total_elements,
               uintptr_t stream);

// A device copy of `count` int64 values (an Adam table), cached per device by its contents: the
// same contents give the same device address with no copy, so an optimizer that steps the same
// tensors pays for the upload once. New contents are copied synchronously (cudaMemcpy), so they
// are in place before anything enqueued afterwards on any stream. Up to 64 tables per device are
// kept; evicting one synchronizes the device before freeing it (kernels may still read it).
uintptr_t cached_device_table(const int64_t* host, int64_t count);

// ---- conv2d (fp32, NCHW / OIHW, dense; the semantics of tf::cpu::conv2d_* in conv2d.h) ----
// Implicit GEMM on the device (conv2d_forward.cu, conv2d_grad_input.cu, conv2d_grad_weight.cu).
// Outputs are write-only; `bias` may be 0. Callers validate shapes (oh / ow consistent with the
// rest) and that outputs overlap no input. Enqueued on `stream`; returns without waiting.
// conv2d_grad_weight zeroes dw and adds split-k partial sums atomically when it splits, so its
// result can differ in the last bits from run to run.
void conv2d_forward(const Conv2dShape& s, uintptr_t x, uintptr_t w, uintptr_t bias, uintptr_t y, uintptr_t stream);
void conv2d_grad_input(const Conv2dShape& s, uintptr_t dy, uintptr_t w, uintptr_t dx, uintptr_t stream);
void conv2d_grad_weight(const Conv2dShape& s, uintptr_t x, uintptr_t dy, uintptr_t dw, uintptr_t stream);

// ---- 2-D pooling (fp32, dense planes; the semantics of tf::cpu::*_pool2d_* in pool2d.h) ----
// `idx` is a device array of int64 (planes, oh, ow). Backward passes write all of dx, by gather
// (deterministic). A max window with no in-image tap yields -inf and index -1.
void max_pool2d_forward(const Pool2dShape& s, uintptr_t x, uintptr_t y, uintptr_t idx, uintptr_t stream);
void max_pool2d_backward(const Pool2dShape& s, uintptr_t dy, uintptr_t idx, uintptr_t dx, uintptr_t stream);
void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, int64_t divisor_override, uintptr_t x,
                        uintptr_t y, uintptr_t stream);
void avg_pool2d_backward(const Pool2dShape& s, bool count_include_pad, int64_t divisor_override, uintptr_t dy,
                         uintptr_t dx, uintptr_t stream);

// ---- fused attention (fp32, flash style; attention_forward.cu, attention_backward.cu) ----
// q (batch, heads, l, e), k and v (batch, heads, s, e), o (batch, heads, l, e), each given by its
// element strides for (batch, head, row) with the last dimension contiguous (so (B, L, H, E)
// views work without copies). lse is dense float32 (batch, heads, l): the natural-log
// log-sum-exp of each query's scaled, masked scores, saved by the forward for the backward.
//   scores[i, j] = scale * q_i . k_j  (+ mask[b, h, i, j] when mask_kind == 1, float32)
//   masked out: j > i when causal (PyTorch's top-left alignment, tril(ones(l, s))), and where a
//   boolean mask (mask_kind == 2, uint8: nonzero = take part, PyTorch's convention) is 0.
//   o_i = softmax_j(scores[i, :]) @ v. A query with every key masked out gets o_i = 0, lse = -inf
//   and zero gradients (PyTorch's math path gives NaN there).
// mask_stride (batch, head, query, key) in elements; 0 broadcasts. e <= 128 (dims are padded
// to 32 / 64 / 128 inside). The backward writes dq, dk, dv (write-only, no accumulation) from
// q, k, v, o, dout and lse, recomputing the probabilities; it is deterministic (no atomics).
struct AttnStrides {
    int64_t b = 0, h = 0, l = 0;
};
struct AttentionArgs {
    int64_t batch = 0, heads = 0, l = 0, s = 0, e = 0;
    float scale = 1.f;
    bool causal = false;
    int mask_kind = 0;  // 0: none, 1: additive float32, 2: boolean uint8
    int64_t mask_stride[4] = {0, 0, 0, 0};
    AttnStrides q, k, v, o, dout, dq, dk, dv;
};
void attention_forward(const AttentionArgs& a, uintptr_t q, uintptr_t k, uintptr_t v, uintptr_t mask, uintptr_t o,
                       uintptr_t lse, uintptr_t stream);
void attention_backward(const AttentionArgs& a, uintptr_t q, uintptr_t k, uintptr_t v, uintptr_t mask, uintptr_t o,
                        uintptr_t dout, uintptr_t lse, uintptr_t dq, uintptr_t dk, uintptr_t dv, uintptr_t stream);

// ---- fused attention on the tensor cores (attention_tc_forward.cu, attention_tc_backward.cu) ----
// The same semantics as attention_forward / attention_backward with the products q k^T, p v (and
// the backward's) at `precision`: operands rounded to tf32 or bfloat16, float32 accumulation and
// softmax. Covered: tf32 for e <= 64, bf16 for e <= 128, on compute capability 8.0 or newer;
// attention_tc_supported says whether (it queries the current device), and the launchers throw
// where it is false. The backward must get the precision of the forward that produced o and lse;
// it writes rowsum(dout * o) into `delta`, a float32 workspace of batch * heads * l elements.
bool attention_tc_supported(int64_t e, MatmulPrecision precision);
void attention_tc_forward(const AttentionArgs& a, MatmulPrecision precision, uintptr_t q, uintptr_t k, uintptr_t v,
                          uintptr_t mask, uintptr_t o, uintptr_t lse, uintptr_t stream);
void attention_tc_backward(const AttentionArgs& a, MatmulPrecision precision, uintptr_t q, uintptr_t k, uintptr_t v,
                           uintptr_t mask, uintptr_t o, uintptr_t dout, uintptr_t lse, uintptr_t dq, uintptr_t dk,
                           uintptr_t dv, uintptr_t delta, uintptr_t stream);

}  // namespace tf::cuda
