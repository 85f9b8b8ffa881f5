// attention_forward.cu: fused scaled-dot-product attention forward in fp32, flash style.
//
// NOT YET RUN ON A GPU: compiled with nvcc and run on the CPU under TF_CUDA_EMULATE only
// (tests/test_cuda_emulated_conv_attention.py).
//
// What: o = softmax(scale * q k^T + mask) v per (batch, head), and lse = the natural-log
//   log-sum-exp of each row of the scores (for the backward); causal flag, additive float or
//   boolean mask by strides (see AttentionArgs in cuda_api.h). Memory is linear in l and s.
// Algorithm (FlashAttention's online softmax on CUDA cores): a block owns BQ queries of one
//   (batch, head) and keeps them in shared memory; it walks the keys in tiles of BK (K and V tile
//   staged in shared memory), computes the BQ x BK scores, the running row maximum m, rescales
//   the running sum l and the output accumulator by exp(m_old - m_new) and adds P V. With the
//   causal flag it stops at the last key tile its queries can see. At the end o = acc / l.
//   TPR = 4 threads share a query row: each computes the scores of every 4th key of the tile
//   and accumulates every 4th output dimension (D / 4 registers).
// Layout: q, k, v, o with (batch, head, row) strides and a contiguous last dim; lse dense
//   (batch, heads, l). Head dims are padded to D = 32 / 64 / 128 in shared memory (zeros).
// Launch: grid (batch * heads, ceil(l / BQ)), BQ * 4 threads; (BQ, BK) = (64, 32) for D <= 64,
//   (32, 16) for D = 128; < 42 KiB static shared memory; caller's stream.
// Not here: tensor cores (tf32 mma / wgmma), exp2 with a folded log2(e), warp-shuffle row
//   reductions instead of shared-memory passes, split over keys for short query counts.
#include "attention_common.cuh"

namespace tf::cuda {
namespace {

using attn_detail::AttnParams;

constexpr int kTpr = 4;

template <int D, int BQ, int BK>
__global__ void __launch_bounds__(BQ * kTpr) attention_fwd_kernel(AttnParams p) {
    constexpr int THREADS = BQ * kTpr, LDQ = D + 1, LDK = D + 1, LDV = D, LDP = BK + 1;
    constexpr int KPT = BK / kTpr, DPT = D / kTpr;  // keys and output dims per thread
    __shared__ float Qs[BQ * LDQ];
    __shared__ float Ks[BK * LDK];
    __shared__ float Vs[BK * LDV];
    __shared__ float Ps[BQ * LDP];

    const int bh = static_cast<int>(blockIdx.x);
    const int b = bh / p.heads, h = bh - b * p.heads;
    const int q0 = static_cast<int>(blockIdx.y) * BQ;
    const int tid = static_cast<int>(threadIdx.x);
    const int r = tid / kTpr, lane = tid - r * kTpr;
    const int qi = q0 + r;
    const float* q = p.q + b * p.sq.b + h * p.sq.h;
    const float* k = p.k + b * p.sk.b + h * p.sk.h;
    const float* v = p.v + b * p.sv.b + h * p.sv.h;

    attn_detail::load_rows<BQ, D, LDQ, THREADS>(Qs, q, p.sq.l, q0, p.l, p.e);

    float acc[DPT];
#pragma unroll
    for (int t = 0; t < DPT; ++t) acc[t] = 0.f;
    float m = -INFINITY, lsum = 0.f;

    const int kend = p.causal ? (q0 + BQ < p.s ? q0 + BQ : p.s) : p.s;
    for (int k0 = 0; k0 < kend; k0 += BK) {
        __syncthreads();  // the previous tile's Ks / Vs / Ps are no longer read
        attn_detail::load_rows<BK, D, LDK, THREADS>(Ks, k, p.sk.l, k0, p.s, p.e);
        attn_detail::load_rows<BK, D, LDV, THREADS>(Vs, v, p.sv.l, k0, p.s, p.e);
        __syncthreads();

        // Scores of this thread's keys j = lane + 4 t: d outermost, so each q element is read
        // from shared memory once per KPT products.
        float sc[KPT];
#pragma unroll
        for (int t = 0; t < KPT; ++t) sc[t] = 0.f;
#pragma unroll 4
        for (int d = 0; d < D; ++d) {
            const float qd = Qs[r * LDQ + d];
#pragma unroll
            for (int t = 0; t < KPT; ++t) sc[t] = fmaf(qd, Ks[(lane + kTpr * t) * LDK + d], sc[t]);
        }
        float tmax = -INFINITY;
#pragma unroll
        for (int t = 0; t < KPT; ++t) {
            const int j = lane + kTpr * t, kj = k0 + j;
            float add = 0.f;
            float sv = -INFINITY;
            if (qi < p.l && kj < p.s && attn_detail::score_term(p, b, h, qi, kj, add)) sv = sc[t] * p.scale + add;
            sc[t] = sv;
            tmax = fmaxf(tmax, sv);
            Ps[r * LDP + j] = sv;
        }
        __syncthreads();
#pragma unroll
        for (int t = 0; t < BK; ++t) tmax = fmaxf(tmax, Ps[r * LDP + t]);
        const float mnew = fmaxf(m, tmax);
        __syncthreads();  // every thread of the row has read the scores before they become P
#pragma unroll
        for (int t = 0; t < KPT; ++t) {
            const int j = lane + kTpr * t;
            Ps[r * LDP + j] = sc[t] == -INFINITY ? 0.f : expf(sc[t] - mnew);
        }
        __syncthreads();
        const float alpha = mnew == -INFINITY ? 1.f : expf(m - mnew);  // m = -inf -> 0
        lsum *= alpha;
#pragma unroll
        for (int t = 0; t < DPT; ++t) acc[t] *= alpha;
        for (int j = 0; j < BK; ++j) {
            const float pj = Ps[r * LDP + j];
            lsum += pj;
#pragma unroll
            for (int t = 0; t < DPT; ++t) acc[t] = fmaf(pj, Vs[j * LDV + lane + kTpr * t], acc[t]);
        }
        m = mnew;
    }

    if (qi < p.l) {
        const float inv = lsum > 0.f ? 1.f / lsum : 0.f;
        float* o = p.out + b * p.so.b + h * p.so.h + int64_t(qi) * p.so.l;
#pragma unroll
        for (int t = 0; t < DPT; ++t) {
            const int d = lane + kTpr * t;
            if (d < p.e) o[d] = acc[t] * inv;
        }
        if (lane == 0) p.lse_out[int64_t(bh) * p.l + qi] = lsum > 0.f ? m + logf(lsum) : -INFINITY;
    }
}

struct ForwardLauncher {
    const AttnParams& p;
    int64_t bh;
    cudaStream_t stream;
    template <int D>
    void run() const {
        constexpr int BQ = D <= 64 ? 64 : 32, BK = D <= 64 ? 32 : 16;
        const int64_t qtiles = (p.l + BQ - 1) / BQ;
        if (qtiles > 65535) throw std::runtime_error("cuda attention_forward: too many queries for one launch");
        dim3 grid(static_cast<unsigned>(bh), static_cast<unsigned>(qtiles));
        auto* kernel = &attention_fwd_kernel<D, BQ, BK>;
        TF_LAUNCH(kernel, grid, BQ * kTpr, stream, p);
        TF_CUDA_CHECK_LAUNCH("attention_fwd_kernel");
    }
};

}  // namespace

void attention_forward(const AttentionArgs& a, uintptr_t q, uintptr_t k, uintptr_t v, uintptr_t mask, uintptr_t o,
                       uintptr_t lse, uintptr_t stream) {
    attn_detail::validate(a, "cuda attention_forward");
    if (a.batch == 0 || a.heads == 0 || a.l == 0) return;
    require_device();
    AttnParams p = attn_detail::forward_params(a, q, k, v, mask, o, lse);
    attn_detail::dispatch_head_dim(a.e, ForwardLauncher{p, a.batch * a.heads, reinterpret_cast<cudaStream_t>(stream)});
}

}  // namespace tf::cuda
