// cross_entropy.cu: fused cross-entropy from float32 logits and int64 class indices, forward and
// backward, never materialising log-probabilities.
//
// NOT YET RUN ON A GPU. Written and compiled on machines with nvcc and no GPU; its indexing,
// reductions and barriers are checked by the CPU emulation (emu/emu_softmax_ce.cpp), nothing about
// it is known on a device until tests/test_cuda_kernels.py and bench/gpu_suite.sh have run on one.
//
// What it computes (PyTorch's F.cross_entropy with class indices, reduction='none'), per row r with
// target t, C classes, class weights w (all 1 when absent), smoothing e:
//   lse = log sum_c exp(x_c),  wt = w[t],  W = sum_c w_c,
//   loss_r = (1 - e) * wt * (lse - x_t) + (e / C) * sum_c w_c * (lse - x_c)
//          = (1 - e) * wt * (lse - x_t) + (e / C) * (W * (lse - ref) - sum_c w_c * (x_c - ref)),
//   with ref = x_0 (0 when not finite), so large logits do not cancel catastrophically;
//   rows with t == ignore_index: loss 0, row weight 0, nothing read.
// The forward also writes the row's max m_r and log-normaliser log sum_c exp(x_c - m_r) as stats_r
// (two floats; lse = their sum) for the backward, which takes softmax_rc = exp((x_rc - m_r) - log_sum_r):
// from lse alone, exp(x - lse) would lose precision when the logits are large (|lse| ~ 1e4 has an
// ulp of 1e-3). And it writes row_weight_r = wt (0 when ignored): the caller's 'mean' divides the
// summed loss by sum_r row_weight_r (PyTorch's divisor for both the target and the smoothing term). The backward writes, with g_r = grad[r * grad_stride]
// (grad_stride 0 broadcasts one value: 'sum', or 'mean' with the divisor folded in):
//   dx_rc = g_r * (softmax_rc * S_r - coef_rc),   coef_rc = (1 - e) * wt * [c == t] + (e / C) * w_c,
//   S_r = sum_c coef_rc = (1 - e) * wt + (e / C) * W;
//   ignored rows get dx = 0.
// Out-of-range targets (t != ignore_index and t < 0 or t >= C) are never used as an index: the
// forward gives such a row NaN loss and stats, and atomicMin's its row number into *bad_row (an
// unsigned 64-bit value the launcher first sets to all ones), which the caller reads back after
// the launch to raise a clear error (a device flag rather than a host check: no extra pass over
// the targets, no extra kernels, one 8-byte read that the caller's loss.item() would wait for
// anyway). The backward writes NaN rows for them.
// Layout: x, dx contiguous (rows, C); target int64 (rows,); w float32 (C,) or null; loss and
// row_weight float32 (rows,); stats float32 (rows, 2); grad float32 (rows,) or one value.
//
// Launch shape (row_reduce.cuh): one warp per row (8 rows per block) for C <= 1024, one
// 512-thread block per row above. Forward: row_stats (one DRAM read of the row: a block row in one
// online pass, a warp row in a max pass plus a sum pass from L1) with the smoothing sums taken in
// the reading pass, reductions by shuffles, thread 0 of the row writes. Backward: one pass that
// reads x and writes dx (plus, with smoothing and weights, one pass over w for W). Runs on the
// caller's stream and returns without waiting.
#include <cuda_runtime.h>

#include <tensorforge/cuda_api.h>

#include "check.cuh"
#include "launch.cuh"
#include "row_reduce.cuh"

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tf::cuda {
namespace {
namespace cross_entropy_detail {

using namespace row_detail;

struct CeParams {
    int64_t rows, classes, ignore_index;
    float smoothing;
    const float* x;
    const int64_t* target;
    const float* weight;  // null: all ones
};

template <int kRowThreads>
__global__ void __launch_bounds__(RowShape<kRowThreads>::kThreads)
    cross_entropy_forward_kernel(CeParams p, float* __restrict__ loss, float* __restrict__ stats,
                                 float* __restrict__ row_weight, unsigned long long* __restrict__ bad_row) {
    using Shape = RowShape<kRowThreads>;
    const int64_t r = Shape::row();
    if (r >= p.rows) return;
    const int lane = Shape::lane();
    const int64_t t = p.target[r];
    if (t == p.ignore_index || t < 0 || t >= p.classes) {  // the same branch for the whole row
        if (lane == 0) {
            const bool ignored = t == p.ignore_index;
            loss[r] = ignored ? 0.f : NAN;
            stats[2 * r] = stats[2 * r + 1] = ignored ? 0.f : NAN;
            row_weight[r] = 0.f;
            if (!ignored) atomicMin(bad_row, static_cast<unsigned long long>(r));
        }
        return;
    }
    const float* xr = p.x + r * p.classes;
    const bool smooth = p.smoothing > 0.f;
    float ref = 0.f;
    if (smooth) {
        ref = xr[0];
        if (!(fabsf(ref) < INFINITY)) ref = 0.f;  // +-inf or NaN
    }
    float wx = 0.f, wsum = 0.f;  // sum_c w_c (x_c - ref), sum_c w_c: smoothing only
    const MaxSum st = row_stats<kRowThreads>(xr, p.classes, lane, [&](int64_t c, float v) {
        if (smooth) {
            const float w = p.weight ? p.weight[c] : 1.f;
            wx += w * (v - ref);
            wsum += w;
        }
    });
    if (smooth) {
        wx = row_sum<kRowThreads>(wx);
        wsum = row_sum<kRowThreads>(wsum);
    }
    if (lane == 0) {
        const float log_sum = log_normalizer(st);
        const float wt = p.weight ? p.weight[t] : 1.f;
        float l = (1.f - p.smoothing) * wt * ((st.max - xr[t]) + log_sum);
        if (smooth) l += p.smoothing / static_cast<float>(p.classes) * (wsum * ((st.max - ref) + log_sum) - wx);
        loss[r] = l;
        stats[2 * r] = st.max;
        stats[2 * r + 1] = log_sum;
        row_weight[r] = wt;
    }
}

template <int kRowThreads>
__global__ void __launch_bounds__(RowShape<kRowThreads>::kThreads)
    cross_entropy_backward_kernel(CeParams p, const float* __restrict__ stats, const float* __restrict__ grad,
                                  int64_t grad_stride, float* __restrict__ dx) {
    using Shape = RowShape<kRowThreads>;
    const int64_t r = Shape::row();
    if (r >= p.rows) return;
    const int lane = Shape::lane();
    const int64_t t = p.target[r];
    float* dxr = dx + r * p.classes;
    if (t == p.ignore_index || t < 0 || t >= p.classes) {
        const float fill = t == p.ignore_index ? 0.f : NAN;
        for (int64_t c = lane; c < p.classes; c += kRowThreads) dxr[c] = fill;
        return;
    }
    const float e_over_c = p.smoothing / static_cast<float>(p.classes);
    float wsum = static_cast<float>(p.classes);
    if (p.smoothing > 0.f && p.weight) {
        float part = 0.f;
        for (int64_t c = lane; c < p.classes; c += kRowThreads) part += p.weight[c];
        wsum = row_sum<kRowThreads>(part);
    }
    const float wt = p.weight ? p.weight[t] : 1.f;
    const float target_coef = (1.f - p.smoothing) * wt;
    const float coef_sum = target_coef + e_over_c * wsum;
    const float g = grad[r * grad_stride];
    const float row_max = stats[2 * r], log_sum = stats[2 * r + 1];
    const float* xr = p.x + r * p.classes;
    for_each_col<kRowThreads>(p.classes, lane, [xr](int64_t c) { return xr[c]; }, [&](int64_t c, float v) {
        float coef = e_over_c * (p.weight ? p.weight[c] : 1.f);
        if (c == t) coef += target_coef;
        dxr[c] = g * (expf((v - row_max) - log_sum) * coef_sum - coef);
    });
}

void check_args(const CrossEntropyArgs& a, const char* what) {
    if (a.rows < 0 || a.classes < 0)
        throw std::runtime_error(std::string(what) + ": negative size (rows=" + std::to_string(a.rows) +
                                 ", classes=" + std::to_string(a.classes) + ")");
    if (a.rows > 0x7fffffff) throw std::runtime_error(std::string(what) + ": too many rows (" + std::to_string(a.rows) + ")");
    if (a.rows > 0 && a.classes == 0) throw std::runtime_error(std::string(what) + ": no classes (C = 0)");
    if (!(a.label_smoothing >= 0.f && a.label_smoothing <= 1.f))
        throw std::runtime_error(std::string(what) + ": label_smoothing must be in [0, 1], got " +
                                 std::to_string(a.label_smoothing));
}

CeParams params(const CrossEntropyArgs& a, uintptr_t x, uintptr_t target, uintptr_t weight) {
    return CeParams{a.rows,
                    a.classes,
                    a.ignore_index,
                    a.label_smoothing,
                    reinterpret_cast<const float*>(x),
                    reinterpret_cast<const int64_t*>(target),
                    reinterpret_cast<const float*>(weight)};
}

}  // namespace cross_entropy_detail
}  // namespace

void cross_entropy_forward(const CrossEntropyArgs& a, uintptr_t x, uintptr_t target, uintptr_t weight, uintptr_t loss,
                           uintptr_t stats, uintptr_t row_weight, uintptr_t bad_row, uintptr_t stream) {
    namespace d = cross_entropy_detail;
    using row_detail::RowShape;
    d::check_args(a, "cuda cross_entropy_forward");
    require_device();
    auto st = reinterpret_cast<cudaStream_t>(stream);
    TF_CUDA_CHECK(cudaMemsetAsync(reinterpret_cast<void*>(bad_row), 0xff, sizeof(unsigned long long), st));
    if (a.rows == 0) return;
    const d::CeParams p = d::params(a, x, target, weight);
    auto* ploss = reinterpret_cast<float*>(loss);
    auto* pstats = reinterpret_cast<float*>(stats);
    auto* pw = reinterpret_cast<float*>(row_weight);
    auto* pbad = reinterpret_cast<unsigned long long*>(bad_row);
    if (a.classes <= row_detail::kMaxWarpRowCols) {
        auto* kernel = &d::cross_entropy_forward_kernel<32>;
        TF_LAUNCH(kernel, RowShape<32>::blocks(a.rows), RowShape<32>::kThreads, st, p, ploss, pstats, pw, pbad);
    } else {
        constexpr int kRow = row_detail::kBlockRowThreads;
        auto* kernel = &d::cross_entropy_forward_kernel<kRow>;
        TF_LAUNCH(kernel, RowShape<kRow>::blocks(a.rows), RowShape<kRow>::kThreads, st, p, ploss, pstats, pw, pbad);
    }
    TF_CUDA_CHECK_LAUNCH("cross_entropy_forward_kernel");
}

void cross_entropy_backward(const CrossEntropyArgs& a, uintptr_t x, uintptr_t target, uintptr_t weight, uintptr_t stats,
                            uintptr_t grad, int64_t grad_stride, uintptr_t dx, uintptr_t stream) {
    namespace d = cross_entropy_detail;
    using row_detail::RowShape;
    d::check_args(a, "cuda cross_entropy_backward");
    if (grad_stride != 0 && grad_stride != 1)
        throw std::runtime_error("cuda cross_entropy_backward: grad_stride must be 0 or 1, got " +
                                 std::to_string(grad_stride));
    if (a.rows == 0) return;
    require_device();
    auto st = reinterpret_cast<cudaStream_t>(stream);
    const d::CeParams p = d::params(a, x, target, weight);
    const auto* pstats = reinterpret_cast<const float*>(stats);
    const auto* pg = reinterpret_cast<const float*>(grad);
    auto* pdx = reinterpret_cast<float*>(dx);
    if (a.classes <= row_detail::kMaxWarpRowCols) {
        auto* kernel = &d::cross_entropy_backward_kernel<32>;
        TF_LAUNCH(kernel, RowShape<32>::blocks(a.rows), RowShape<32>::kThreads, st, p, pstats, pg, grad_stride, pdx);
    } else {
        constexpr int kRow = row_detail::kBlockRowThreads;
        auto* kernel = &d::cross_entropy_backward_kernel<kRow>;
        TF_LAUNCH(kernel, RowShape<kRow>::blocks(a.rows), RowShape<kRow>::kThreads, st, p, pstats, pg, grad_stride, pdx);
    }
    TF_CUDA_CHECK_LAUNCH("cross_entropy_backward_kernel");
}

}  // namespace tf::cuda
