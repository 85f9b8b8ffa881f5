// attention_backward.cu: fused attention backward in fp32 (dq, dk, dv), flash style.
//
// NOT YET RUN ON A GPU: compiled with nvcc and run on the CPU under TF_CUDA_EMULATE only
// (tests/test_cuda_emulated_conv_attention.py).
//
// What: the gradients of o = softmax(scale * q k^T + mask) v (AttentionArgs in cuda_api.h)
//   given dout, from q, k, v, o and the forward's lse; dq, dk, dv are write-only.
//     P = exp(scale q k^T + mask - lse)      (recomputed tile by tile, never stored)
//     dV = P^T dO;  dP = dO V^T;  dS = P * (dP - rowsum(dO * O));  dQ = scale dS K;  dK = scale dS^T Q
// Algorithm: two kernels, no atomics, deterministic (each recomputes P once):
//   dq kernel:  a block owns BQ queries of one (batch, head), walks the key tiles (K, V staged in
//               shared memory), builds dS for its rows and accumulates dS K in registers;
//   dkv kernel: a block owns BR keys of one (batch, head), walks the query tiles (Q, dO, lse and
//               rowsum(dO * O) staged in shared memory), builds P and dS for its keys and
//               accumulates P^T dO and dS^T Q in registers.
//   4 threads share a row as in the forward; causal tiles past the diagonal are skipped.
// Layout: as the forward (row strides per operand, contiguous last dim; lse dense).
// Launch: dq: grid (batch * heads, ceil(l / BQ)), BQ * 4 threads; dkv: grid (batch * heads,
//   ceil(s / BR)), BR * 4 threads; tiles (64, 32) for D = 32, (32, 32) for D = 64, (16, 16) for
//   D = 128; < 43 KiB static shared memory each; caller's stream.
// Not here: tensor cores, a single fused kernel with atomic dq (FlashAttention-2's layout).
#include "attention_common.cuh"

namespace tf::cuda {
namespace {

using attn_detail::AttnParams;

constexpr int kTprB = 4;

template <int D, int BQ, int BK>
__global__ void __launch_bounds__(BQ * kTprB) attention_bwd_dq_kernel(AttnParams p) {
    constexpr int THREADS = BQ * kTprB, LD = D + 1, LDS = BK + 1;
    constexpr int KPT = BK / kTprB, DPT = D / kTprB;
    __shared__ float Qs[BQ * LD];
    __shared__ float dOs[BQ * LD];
    __shared__ float Ks[BK * LD];
    __shared__ float Vs[BK * LD];
    __shared__ float dSs[BQ * LDS];

    const int bh = static_cast<int>(blockIdx.x);
    const int b = bh / p.heads, h = bh - b * p.heads;
    const int q0 = static_cast<int>(blockIdx.y) * BQ;
    const int tid = static_cast<int>(threadIdx.x);
    const int r = tid / kTprB, lane = tid - r * kTprB;
    const int qi = q0 + r;
    const float* k = p.k + b * p.sk.b + h * p.sk.h;
    const float* v = p.v + b * p.sv.b + h * p.sv.h;

    attn_detail::load_rows<BQ, D, LD, THREADS>(Qs, p.q + b * p.sq.b + h * p.sq.h, p.sq.l, q0, p.l, p.e);
    attn_detail::load_rows<BQ, D, LD, THREADS>(dOs, p.dout + b * p.sdo.b + h * p.sdo.h, p.sdo.l, q0, p.l, p.e);
    float lse = -INFINITY, delta = 0.f;
    if (qi < p.l) {
        lse = p.lse[int64_t(bh) * p.l + qi];
        const float* orow = p.o + b * p.so.b + h * p.so.h + int64_t(qi) * p.so.l;
        const float* drow = p.dout + b * p.sdo.b + h * p.sdo.h + int64_t(qi) * p.sdo.l;
        for (int d = 0; d < p.e; ++d) delta = fmaf(orow[d], drow[d], delta);
    }
    float acc[DPT];
#pragma unroll
    for (int t = 0; t < DPT; ++t) acc[t] = 0.f;

    const int kend = p.causal ? (q0 + BQ < p.s ? q0 + BQ : p.s) : p.s;
    for (int k0 = 0; k0 < kend; k0 += BK) {
        __syncthreads();  // previous Ks / Vs / dSs no longer read (and Qs / dOs ready on entry)
        attn_detail::load_rows<BK, D, LD, THREADS>(Ks, k, p.sk.l, k0, p.s, p.e);
        attn_detail::load_rows<BK, D, LD, THREADS>(Vs, v, p.sv.l, k0, p.s, p.e);
        __syncthreads();
        // q . k and dout . v for this thread's keys j = lane + 4 t (d outermost: each q / dout
        // element read once per KPT products).
        float sc[KPT], dp[KPT];
#pragma unroll
        for (int t = 0; t < KPT; ++t) sc[t] = dp[t] = 0.f;
#pragma unroll 4
        for (int d = 0; d < D; ++d) {
            const float qd = Qs[r * LD + d], od = dOs[r * LD + d];
#pragma unroll
            for (int t = 0; t < KPT; ++t) {
                sc[t] = fmaf(qd, Ks[(lane + kTprB * t) * LD + d], sc[t]);
                dp[t] = fmaf(od, Vs[(lane + kTprB * t) * LD + d], dp[t]);
            }
        }
#pragma unroll
        for (int t = 0; t < KPT; ++t) {
            const int j = lane + kTprB * t, kj = k0 + j;
            float add = 0.f, ds = 0.f;
            if (qi < p.l && kj < p.s && lse != -INFINITY && attn_detail::score_term(p, b, h, qi, kj, add))
                ds = expf(sc[t] * p.scale + add - lse) * (dp[t] - delta);
            dSs[r * LDS + j] = ds;
        }
        __syncthreads();
        for (int j = 0; j < BK; ++j) {
            const float ds = dSs[r * LDS + j];
#pragma unroll
            for (int t = 0; t < DPT; ++t) acc[t] = fmaf(ds, Ks[j * LD + lane + kTprB * t], acc[t]);
        }
    }
    if (qi < p.l) {
        float* dq = p.dq + b * p.sdq.b + h * p.sdq.h + int64_t(qi) * p.sdq.l;
#pragma unroll
        for (int t = 0; t < DPT; ++t) {
            const int d = lane + kTprB * t;
            if (d < p.e) dq[d] = acc[t] * p.scale;
        }
    }
}

template <int D, int BR, int BC>
__global__ void __launch_bounds__(BR * kTprB) attention_bwd_dkv_kernel(AttnParams p) {
    constexpr int THREADS = BR * kTprB, LD = D + 1, LDS = BC + 1;
    constexpr int QPT = BC / kTprB, DPT = D / kTprB;
    __shared__ float Ks[BR * LD];
    __shared__ float Vs[BR * LD];
    __shared__ float Qs[BC * LD];
    __shared__ float dOs[BC * LD];
    __shared__ float Ps[BR * LDS];
    __shared__ float dSs[BR * LDS];
    __shared__ float lses[BC];
    __shared__ float deltas[BC];

    const int bh = static_cast<int>(blockIdx.x);
    const int b = bh / p.heads, h = bh - b * p.heads;
    const int k0 = static_cast<int>(blockIdx.y) * BR;
    const int tid = static_cast<int>(threadIdx.x);
    const int r = tid / kTprB, lane = tid - r * kTprB;
    const int kj = k0 + r;
    const float* q = p.q + b * p.sq.b + h * p.sq.h;
    const float* dout = p.dout + b * p.sdo.b + h * p.sdo.h;
    const float* o = p.o + b * p.so.b + h * p.so.h;

    attn_detail::load_rows<BR, D, LD, THREADS>(Ks, p.k + b * p.sk.b + h * p.sk.h, p.sk.l, k0, p.s, p.e);
    attn_detail::load_rows<BR, D, LD, THREADS>(Vs, p.v + b * p.sv.b + h * p.sv.h, p.sv.l, k0, p.s, p.e);
    float dk[DPT], dv[DPT];
#pragma unroll
    for (int t = 0; t < DPT; ++t) dk[t] = dv[t] = 0.f;

    // Causal: queries before k0 see none of this block's keys.
    const int qbeg = p.causal ? (k0 / BC) * BC : 0;
    for (int i0 = qbeg; i0 < p.l; i0 += BC) {
        __syncthreads();  // previous Qs / dOs / Ps / dSs / lses / deltas no longer read
        attn_detail::load_rows<BC, D, LD, THREADS>(Qs, q, p.sq.l, i0, p.l, p.e);
        attn_detail::load_rows<BC, D, LD, THREADS>(dOs, dout, p.sdo.l, i0, p.l, p.e);
        for (int c = tid; c < BC; c += THREADS) {
            const int qi = i0 + c;
            float lse = -INFINITY, delta = 0.f;
            if (qi < p.l) {
                lse = p.lse[int64_t(bh) * p.l + qi];
                const float* orow = o + int64_t(qi) * p.so.l;
                const float* drow = dout + int64_t(qi) * p.sdo.l;
                for (int d = 0; d < p.e; ++d) delta = fmaf(orow[d], drow[d], delta);
            }
            lses[c] = lse;
            deltas[c] = delta;
        }
        __syncthreads();
        // k . q and v . dout for this thread's queries c = lane + 4 t (d outermost).
        float sc[QPT], dp[QPT];
#pragma unroll
        for (int t = 0; t < QPT; ++t) sc[t] = dp[t] = 0.f;
#pragma unroll 4
        for (int d = 0; d < D; ++d) {
            const float kd = Ks[r * LD + d], vd = Vs[r * LD + d];
#pragma unroll
            for (int t = 0; t < QPT; ++t) {
                sc[t] = fmaf(kd, Qs[(lane + kTprB * t) * LD + d], sc[t]);
                dp[t] = fmaf(vd, dOs[(lane + kTprB * t) * LD + d], dp[t]);
            }
        }
#pragma unroll
        for (int t = 0; t < QPT; ++t) {
            const int c = lane + kTprB * t, qi = i0 + c;
            const float lse = lses[c];
            float add = 0.f, pr = 0.f, ds = 0.f;
            if (kj < p.s && qi < p.l && lse != -INFINITY && attn_detail::score_term(p, b, h, qi, kj, add)) {
                pr = expf(sc[t] * p.scale + add - lse);
                ds = pr * (dp[t] - deltas[c]);
            }
            Ps[r * LDS + c] = pr;
            dSs[r * LDS + c] = ds;
        }
        __syncthreads();
        for (int c = 0; c < BC; ++c) {
            const float pr = Ps[r * LDS + c], ds = dSs[r * LDS + c];
#pragma unroll
            for (int t = 0; t < DPT; ++t) {
                const int d = lane + kTprB * t;
                dv[t] = fmaf(pr, dOs[c * LD + d], dv[t]);
                dk[t] = fmaf(ds, Qs[c * LD + d], dk[t]);
            }
        }
    }
    if (kj < p.s) {
        float* dkr = p.dk + b * p.sdk.b + h * p.sdk.h + int64_t(kj) * p.sdk.l;
        float* dvr = p.dv + b * p.sdv.b + h * p.sdv.h + int64_t(kj) * p.sdv.l;
#pragma unroll
        for (int t = 0; t < DPT; ++t) {
            const int d = lane + kTprB * t;
            if (d < p.e) {
                dkr[d] = dk[t] * p.scale;
                dvr[d] = dv[t];
            }
        }
    }
}

struct BackwardLauncher {
    const AttnParams& p;
    int64_t bh;
    cudaStream_t stream;
    template <int D>
    void run() const {
        constexpr int BQ = D == 32 ? 64 : D == 64 ? 32 : 16, BK = D == 128 ? 16 : 32;
        if (p.l > 0) {
            const int64_t tiles = (p.l + BQ - 1) / BQ;
            if (tiles > 65535) throw std::runtime_error("cuda attention_backward: too many queries for one launch");
            dim3 grid(static_cast<unsigned>(bh), static_cast<unsigned>(tiles));
            auto* kernel = &attention_bwd_dq_kernel<D, BQ, BK>;
            TF_LAUNCH(kernel, grid, BQ * kTprB, stream, p);
            TF_CUDA_CHECK_LAUNCH("attention_bwd_dq_kernel");
        }
        constexpr int BR = BQ, BC = BK;
        if (p.s > 0) {
            const int64_t tiles = (p.s + BR - 1) / BR;
            if (tiles > 65535) throw std::runtime_error("cuda attention_backward: too many keys for one launch");
            dim3 grid(static_cast<unsigned>(bh), static_cast<unsigned>(tiles));
            auto* kernel = &attention_bwd_dkv_kernel<D, BR, BC>;
            TF_LAUNCH(kernel, grid, BR * kTprB, stream, p);
            TF_CUDA_CHECK_LAUNCH("attention_bwd_dkv_kernel");
        }
    }
};

}  // namespace

void attention_backward(const AttentionArgs& a, uintptr_t q, uintptr_t k, uintptr_t v, uintptr_t mask, uintptr_t o,
                        uintptr_t dout, uintptr_t lse, uintptr_t dq, uintptr_t dk, uintptr_t dv, uintptr_t stream) {
    attn_detail::validate(a, "cuda attention_backward");
    if (a.batch == 0 || a.heads == 0 || (a.l == 0 && a.s == 0)) return;
    require_device();
    AttnParams p = attn_detail::backward_params(a, q, k, v, mask, o, dout, lse, dq, dk, dv);
    attn_detail::dispatch_head_dim(a.e, BackwardLauncher{p, a.batch * a.heads, reinterpret_cast<cudaStream_t>(stream)});
}

}  // namespace tf::cuda
