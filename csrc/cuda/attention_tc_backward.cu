// attention_tc_backward.cu: fused attention backward on the tensor cores (tf32 or bf16 products,
// float32 accumulation), FlashAttention-2's recomputation with two kernels and no atomics.
//
// NOT YET RUN ON A GPU: compiled with nvcc and run on the CPU under TF_CUDA_EMULATE only
// (tests/test_cuda_emulated_attention_tc.py); nothing about its speed or its behaviour on a device
// is known until tests/test_cuda_kernels.py and bench/gpu_suite.sh have run on one.
//
// What: dq, dk, dv of attention_tc_forward.cu's o (the same semantics as attention_backward.cu),
//   from q, k, v, o, dout and the forward's lse, the products on the tensor cores at the
//   forward's precision (operands rounded to tf32 or bf16 while staged; P and dS rounded in
//   registers), everything else float32:
//     P = exp2(scale log2(e) q k^T (+ log2(e) mask) - log2(e) lse)   (recomputed, never stored)
//     D = rowsum(dO * O);  dV = P^T dO;  dP = dO V^T;  dS = P (dP - D);  dQ = scale dS K;  dK = scale dS^T Q
//   D is written to the caller's workspace `delta` (batch, heads, l) by the first kernel and read
//   by the second (same stream, so in order).
// Algorithm:
//   dq kernel  (grid over query tiles of 64, 4 warps of 16 queries): D of its rows (float32, warp
//              shuffles), q and dO fragments in registers; per key tile (BK keys; K and V as
//              RowTiles, K again as a PairTile for bf16): S = Q K^T and dP = dO V^T on the tensor
//              cores, P and dS in registers, dS rounded into A fragments (as P in the forward)
//              and dQ += dS K.
//   dkv kernel (grid over key tiles of 16 * WARPS keys, a warp owns 16 keys; K and V stay in
//              shared memory as RowTiles): per query tile of BQ (Q and dO as RowTiles and, for
//              bf16, PairTiles; lse and D of the tile), S^T = K Q^T and dP^T = V dO^T, P^T and
//              dS^T in registers, dV += P^T dO and dK += dS^T Q.
//   Causal: the dq kernel stops at the last key tile its queries see; the dkv kernel starts at
//   the first query tile that sees its keys. Masks and tile edges are applied element-wise only
//   on tiles that need them (as in the forward). Each P is recomputed twice (once per kernel);
//   in exchange dq needs no atomics and the result is deterministic.
// Layout: as attention_tc_forward.cu; dq, dk, dv write-only with their own strides.
// Launch: dq: grid (batch * heads, ceil(l / 64)), 128 threads, BK = 64 (32 for bf16 D = 128);
//   dkv: grid (batch * heads, ceil(s / (16 WARPS))), 32 WARPS threads, WARPS = 4 (2 for bf16
//   D = 128), BQ = 32 (16 for D = 128 and tf32 D = 64). Static shared memory <= 43648 bytes each.
//   Registers: dq keeps q, dO fragments, the dq accumulators and two score tiles; dkv keeps the
//   dk, dv accumulators (D per thread) and two score tiles. ptxas -v (nvcc 13.0, sm_90),
//   registers / static smem, no spills, no stack:
//     dq:  tf32 D=32 156 / 18432 B, D=64 240 / 34816 B; bf16 D=32 138 / 15360 B,
//          D=64 165 / 27648 B, D=128 218 / 34816 B;
//     dkv: tf32 D=32 124 / 27904 B, D=64 121 / 43648 B; bf16 D=32 94 / 20740 B,
//          D=64 126 / 37124 B, D=128 228 / 34948 B.
// Not here: FlashAttention-2's single kernel with dQ accumulated by atomics (5 products instead
//   of 7), cp.async prefetch, ldmatrix, wgmma, tf32 for D = 128 (attention_backward.cu runs it).
#include "attention_tc.cuh"

namespace tf::cuda {
namespace {

using attn_detail::AttnParams;

constexpr int kDqWarps = 4, kDqBq = 16 * kDqWarps;

#if TF_ATTN_TC_BODY
// lse in log2 units, +inf where the row has no visible key (or is past l), so that
// exp2(score - lse2) is 0 there.
__device__ __forceinline__ float lse_log2(const AttnParams& p, int bh, int i) {
    if (i >= p.l) return INFINITY;
    const float lse = p.lse[int64_t(bh) * p.l + i];
    return lse == -INFINITY ? INFINITY : lse * attn_tc::kLog2e;
}
#endif

template <class Op, int D, int BK>
__global__ void __launch_bounds__(32 * kDqWarps) attention_tc_bwd_dq_kernel(AttnParams p) {
#if TF_ATTN_TC_BODY
    using namespace attn_tc;
    constexpr int THREADS = 32 * kDqWarps, BQ = kDqBq;
    constexpr int LDR = RowTile<Op, D>::kLd, LDP = Op::pair_ld(D);
    constexpr int KSD = RowTile<Op, D>::kWords / 8, NTS = BK / 8, NTO = D / 8, KSK = BK / (8 * Op::kEpw);
    constexpr int TILES = 2 * BK * LDR + (Op::kEpw == 2 ? Op::pair_rows(BK) * LDP : 0);
    constexpr int STAGE = 2 * BQ * LDR;  // Q and dO staged at the start
    __shared__ uint32_t smem[TILES > STAGE ? TILES : STAGE];
    uint32_t* sK = smem;
    uint32_t* sV = smem + BK * LDR;
    uint32_t* sKp = Op::kEpw == 2 ? smem + 2 * BK * LDR : sK;

    const int bh = static_cast<int>(blockIdx.x);
    const int b = bh / p.heads, h = bh - b * p.heads;
    const int q0 = static_cast<int>(blockIdx.y) * BQ;
    const int lane = static_cast<int>(threadIdx.x) % 32, warp = static_cast<int>(threadIdx.x) / 32;
    const int g = lane / 4, t = lane % 4;
    const int wq0 = q0 + 16 * warp;
    const float* k = p.k + b * p.sk.b + h * p.sk.h;
    const float* v = p.v + b * p.sv.b + h * p.sv.h;
    const float* dout = p.dout + b * p.sdo.b + h * p.sdo.h;
    const float scale2 = p.scale * kLog2e;

    load_row_tile<Op, BQ, D, THREADS>(smem, p.q + b * p.sq.b + h * p.sq.h, p.sq.l, q0, p.l, p.e);
    load_row_tile<Op, BQ, D, THREADS>(smem + BQ * LDR, dout, p.sdo.l, q0, p.l, p.e);

    // D = rowsum(dO * O) of this warp's 16 rows in float32: lanes across d, then xor shuffles.
    float delta[2] = {0.f, 0.f}, lse2[2];
    const float* o = p.o + b * p.so.b + h * p.so.h;
    for (int r = 0; r < 16; ++r) {
        const int i = wq0 + r;
        float part = 0.f;
        if (i < p.l)
            for (int d = lane; d < p.e; d += 32)
                part = fmaf(o[int64_t(i) * p.so.l + d], dout[int64_t(i) * p.sdo.l + d], part);
#pragma unroll
        for (int x = 16; x >= 1; x /= 2) part += __shfl_xor_sync(0xffffffffu, part, x);
        if (r == g) delta[0] = part;
        if (r == g + 8) delta[1] = part;
        if (lane == 0 && i < p.l) p.delta[int64_t(bh) * p.l + i] = part;
    }
    lse2[0] = lse_log2(p, bh, wq0 + g);
    lse2[1] = lse_log2(p, bh, wq0 + g + 8);

    __syncthreads();
    uint32_t qf[KSD][4], dof[KSD][4];
#pragma unroll
    for (int ks = 0; ks < KSD; ++ks) {
        a_rows(qf[ks], smem, LDR, 16 * warp, ks, g, t);
        a_rows(dof[ks], smem + BQ * LDR, LDR, 16 * warp, ks, g, t);
    }
    float acc[NTO][4];
#pragma unroll
    for (int n = 0; n < NTO; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;

    const int kend = p.causal ? (q0 + BQ < p.s ? q0 + BQ : p.s) : p.s;
    for (int k0 = 0; k0 < kend; k0 += BK) {
        __syncthreads();  // the staged Q / dO, or the previous K and V tiles, have been read
        load_row_tile<Op, BK, D, THREADS>(sK, k, p.sk.l, k0, p.s, p.e);
        load_row_tile<Op, BK, D, THREADS>(sV, v, p.sv.l, k0, p.s, p.e);
        if (Op::kEpw == 2) load_pair_tile<Op, BK, D, THREADS>(sKp, k, p.sk.l, k0, p.s, p.e);
        __syncthreads();

        float s[NTS][4], dp[NTS][4];
#pragma unroll
        for (int n = 0; n < NTS; ++n)
#pragma unroll
            for (int c = 0; c < 4; ++c) s[n][c] = dp[n][c] = 0.f;
#pragma unroll
        for (int ks = 0; ks < KSD; ++ks)
#pragma unroll
            for (int n = 0; n < NTS; ++n) {
                uint32_t bk[2], bv[2];
                b_rows(bk, sK, LDR, 8 * n, ks, g, t);
                b_rows(bv, sV, LDR, 8 * n, ks, g, t);
                Op::mma(s[n], qf[ks], bk);
                Op::mma(dp[n], dof[ks], bv);
            }

        // dS = P (dP - D) in place of s; element c of n tile n is query wq0 + g + 8 (c / 2),
        // key k0 + 8 n + 2 t + c % 2.
        const bool plain = k0 + BK <= p.s && tile_unmasked(p, wq0, k0 + BK);
#pragma unroll
        for (int n = 0; n < NTS; ++n)
#pragma unroll
            for (int c = 0; c < 4; ++c) {
                float x;
                if (plain) {
                    x = s[n][c] * scale2;
                } else {
                    const int i = wq0 + g + 8 * (c / 2), j = k0 + 8 * n + 2 * t + c % 2;
                    x = (i < p.l && j < p.s) ? score_log2(p, b, h, i, j, s[n][c], scale2) : -INFINITY;
                }
                s[n][c] = exp2f(x - lse2[c / 2]) * (dp[n][c] - delta[c / 2]);
            }

#pragma unroll
        for (int ks = 0; ks < KSK; ++ks) {
            uint32_t af[4];
            Op::a_from_acc(af, &s[ks * Op::kEpw]);
#pragma unroll
            for (int n = 0; n < NTO; ++n) {
                uint32_t bf[2];
                Op::b_pair(bf, sKp, Op::kEpw == 2 ? LDP : LDR, ks * 8 * Op::kEpw, 8 * n, g, t);
                Op::mma(acc[n], af, bf);
            }
        }
    }

#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const int i = wq0 + g + 8 * r;
        if (i >= p.l) continue;
        float* dq = p.dq + b * p.sdq.b + h * p.sdq.h + int64_t(i) * p.sdq.l;
#pragma unroll
        for (int n = 0; n < NTO; ++n)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                const int d = 8 * n + 2 * t + c;
                if (d < p.e) dq[d] = acc[n][2 * r + c] * p.scale;
            }
    }
#else
    (void)p;
    __trap();
#endif
}

template <class Op, int D, int WARPS, int BQ>
__global__ void __launch_bounds__(32 * WARPS) attention_tc_bwd_dkv_kernel(AttnParams p) {
#if TF_ATTN_TC_BODY
    using namespace attn_tc;
    constexpr int THREADS = 32 * WARPS, BKV = 16 * WARPS;
    constexpr int LDR = RowTile<Op, D>::kLd, LDP = Op::pair_ld(D);
    constexpr int KSD = RowTile<Op, D>::kWords / 8, NTS = BQ / 8, NTO = D / 8, KSQ = BQ / (8 * Op::kEpw);
    constexpr int PAIRS = Op::kEpw == 2 ? Op::pair_rows(BQ) * LDP : 0;
    __shared__ uint32_t sK[BKV * LDR];
    __shared__ uint32_t sV[BKV * LDR];
    __shared__ uint32_t sQ[BQ * LDR];
    __shared__ uint32_t sdO[BQ * LDR];
    __shared__ uint32_t sPairs[2 * PAIRS + 1];  // bf16: Q and dO as PairTiles
    __shared__ float sLse2[BQ];
    __shared__ float sDelta[BQ];
    const uint32_t* sQp = Op::kEpw == 2 ? sPairs : sQ;
    const uint32_t* sdOp = Op::kEpw == 2 ? sPairs + PAIRS : sdO;
    constexpr int LDPAIR = Op::kEpw == 2 ? LDP : LDR;

    const int bh = static_cast<int>(blockIdx.x);
    const int b = bh / p.heads, h = bh - b * p.heads;
    const int k0 = static_cast<int>(blockIdx.y) * BKV;
    const int tid = static_cast<int>(threadIdx.x);
    const int lane = tid % 32, warp = tid / 32;
    const int g = lane / 4, t = lane % 4;
    const int wk0 = k0 + 16 * warp;  // this warp's first key
    const float* q = p.q + b * p.sq.b + h * p.sq.h;
    const float* dout = p.dout + b * p.sdo.b + h * p.sdo.h;
    const float scale2 = p.scale * kLog2e;

    load_row_tile<Op, BKV, D, THREADS>(sK, p.k + b * p.sk.b + h * p.sk.h, p.sk.l, k0, p.s, p.e);
    load_row_tile<Op, BKV, D, THREADS>(sV, p.v + b * p.sv.b + h * p.sv.h, p.sv.l, k0, p.s, p.e);

    float dk[NTO][4], dv[NTO][4];
#pragma unroll
    for (int n = 0; n < NTO; ++n)
#pragma unroll
        for (int c = 0; c < 4; ++c) dk[n][c] = dv[n][c] = 0.f;

    const int qbeg = p.causal ? (k0 / BQ) * BQ : 0;  // queries before k0 see none of these keys
    for (int i0 = qbeg; i0 < p.l; i0 += BQ) {
        __syncthreads();  // the previous query tile has been read (and K, V are in place)
        load_row_tile<Op, BQ, D, THREADS>(sQ, q, p.sq.l, i0, p.l, p.e);
        load_row_tile<Op, BQ, D, THREADS>(sdO, dout, p.sdo.l, i0, p.l, p.e);
        if (Op::kEpw == 2) {
            load_pair_tile<Op, BQ, D, THREADS>(sPairs, q, p.sq.l, i0, p.l, p.e);
            load_pair_tile<Op, BQ, D, THREADS>(sPairs + PAIRS, dout, p.sdo.l, i0, p.l, p.e);
        }
        for (int c = tid; c < BQ; c += THREADS) {
            const int i = i0 + c;
            sLse2[c] = lse_log2(p, bh, i);
            sDelta[c] = i < p.l ? p.delta[int64_t(bh) * p.l + i] : 0.f;
        }
        __syncthreads();

        float s[NTS][4], dp[NTS][4];
#pragma unroll
        for (int n = 0; n < NTS; ++n)
#pragma unroll
            for (int c = 0; c < 4; ++c) s[n][c] = dp[n][c] = 0.f;
#pragma unroll
        for (int ks = 0; ks < KSD; ++ks) {
            uint32_t ak[4], av[4];
            a_rows(ak, sK, LDR, 16 * warp, ks, g, t);
            a_rows(av, sV, LDR, 16 * warp, ks, g, t);
#pragma unroll
            for (int n = 0; n < NTS; ++n) {
                uint32_t bq[2], bo[2];
                b_rows(bq, sQ, LDR, 8 * n, ks, g, t);
                b_rows(bo, sdO, LDR, 8 * n, ks, g, t);
                Op::mma(s[n], ak, bq);
                Op::mma(dp[n], av, bo);
            }
        }

        // P^T in s, dS^T in dp; element c of n tile n is key wk0 + g + 8 (c / 2), query
        // i0 + 8 n + 2 t + c % 2.
        const bool plain = tile_unmasked(p, i0, wk0 + 16);
#pragma unroll
        for (int n = 0; n < NTS; ++n)
#pragma unroll
            for (int c = 0; c < 4; ++c) {
                const int col = 8 * n + 2 * t + c % 2;
                float x;
                if (plain) {
                    x = s[n][c] * scale2;
                } else {
                    const int j = wk0 + g + 8 * (c / 2), i = i0 + col;
                    x = (i < p.l && j < p.s) ? score_log2(p, b, h, i, j, s[n][c], scale2) : -INFINITY;
                }
                const float pr = exp2f(x - sLse2[col]);
                s[n][c] = pr;
                dp[n][c] = pr * (dp[n][c] - sDelta[col]);
            }

#pragma unroll
        for (int ks = 0; ks < KSQ; ++ks) {
            uint32_t pf[4], df[4];
            Op::a_from_acc(pf, &s[ks * Op::kEpw]);
            Op::a_from_acc(df, &dp[ks * Op::kEpw]);
#pragma unroll
            for (int n = 0; n < NTO; ++n) {
                uint32_t bo[2], bq[2];
                Op::b_pair(bo, sdOp, LDPAIR, ks * 8 * Op::kEpw, 8 * n, g, t);
                Op::b_pair(bq, sQp, LDPAIR, ks * 8 * Op::kEpw, 8 * n, g, t);
                Op::mma(dv[n], pf, bo);
                Op::mma(dk[n], df, bq);
            }
        }
    }

#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const int j = wk0 + g + 8 * r;
        if (j >= p.s) continue;
        float* dkr = p.dk + b * p.sdk.b + h * p.sdk.h + int64_t(j) * p.sdk.l;
        float* dvr = p.dv + b * p.sdv.b + h * p.sdv.h + int64_t(j) * p.sdv.l;
#pragma unroll
        for (int n = 0; n < NTO; ++n)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                const int d = 8 * n + 2 * t + c;
                if (d < p.e) {
                    dkr[d] = dk[n][2 * r + c] * p.scale;
                    dvr[d] = dv[n][2 * r + c];
                }
            }
    }
#else
    (void)p;
    __trap();
#endif
}

template <class Op>
struct TcBackwardLauncher {
    const AttnParams& p;
    int64_t bh;
    cudaStream_t stream;
    template <int D>
    void run() const {
        if constexpr (Op::kEpw == 1 && D > 64) {
            throw std::runtime_error("cuda attention_tc_backward: tf32 covers head dims <= 64");
        } else {
            launch<D>();
        }
    }
    template <int D>
    void launch() const {
        constexpr bool bf16_128 = Op::kEpw == 2 && D == 128;
        constexpr int BK = bf16_128 ? 32 : 64;
        constexpr int WARPS = bf16_128 ? 2 : 4;
        constexpr int BQ = (D == 128 || (Op::kEpw == 1 && D == 64)) ? 16 : 32;
        if (p.l > 0) {
            const int64_t tiles = (p.l + kDqBq - 1) / kDqBq;
            if (tiles > 65535) throw std::runtime_error("cuda attention_tc_backward: too many queries for one launch");
            dim3 grid(static_cast<unsigned>(bh), static_cast<unsigned>(tiles));
            auto* kernel = &attention_tc_bwd_dq_kernel<Op, D, BK>;
            TF_LAUNCH(kernel, grid, 32 * kDqWarps, stream, p);
            TF_CUDA_CHECK_LAUNCH("attention_tc_bwd_dq_kernel");
        }
        if (p.s > 0) {
            const int64_t tiles = (p.s + 16 * WARPS - 1) / (16 * WARPS);
            if (tiles > 65535) throw std::runtime_error("cuda attention_tc_backward: too many keys for one launch");
            dim3 grid(static_cast<unsigned>(bh), static_cast<unsigned>(tiles));
            auto* kernel = &attention_tc_bwd_dkv_kernel<Op, D, WARPS, BQ>;
            TF_LAUNCH(kernel, grid, 32 * WARPS, stream, p);
            TF_CUDA_CHECK_LAUNCH("attention_tc_bwd_dkv_kernel");
        }
    }
};

}  // namespace

void attention_tc_backward(const AttentionArgs& a, MatmulPrecision precision, uintptr_t q, uintptr_t k, uintptr_t v,
                           uintptr_t mask, uintptr_t o, uintptr_t dout, uintptr_t lse, uintptr_t dq, uintptr_t dk,
                           uintptr_t dv, uintptr_t delta, uintptr_t stream) {
    attn_detail::validate(a, "cuda attention_tc_backward");
    if (a.batch == 0 || a.heads == 0 || (a.l == 0 && a.s == 0)) return;
    require_device();
    if (!attention_tc_supported(a.e, precision))
        throw std::runtime_error("cuda attention_tc_backward: head dimension " + std::to_string(a.e) +
                                 " or this GPU is not covered by the tensor-core kernel (check attention_tc_supported)");
    AttnParams p = attn_detail::backward_params(a, q, k, v, mask, o, dout, lse, dq, dk, dv);
    p.delta = reinterpret_cast<float*>(delta);
    auto st = reinterpret_cast<cudaStream_t>(stream);
    if (precision == MatmulPrecision::tf32)
        attn_detail::dispatch_head_dim(a.e, TcBackwardLauncher<attn_tc::Tf32>{p, a.batch * a.heads, st});
    else
        attn_detail::dispatch_head_dim(a.e, TcBackwardLauncher<attn_tc::Bf16>{p, a.batch * a.heads, st});
}

}  // namespace tf::cuda
