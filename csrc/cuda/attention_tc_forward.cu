// attention_tc_forward.cu: fused attention forward on the tensor cores (tf32 or bf16 products,
// float32 accumulation and softmax), FlashAttention-2 style.
//
// NOT YET RUN ON A GPU: compiled with nvcc and run on the CPU under TF_CUDA_EMULATE only
// (tests/test_cuda_emulated_attention_tc.py); nothing about its speed or its behaviour on a device
// is known until tests/test_cuda_kernels.py and bench/gpu_suite.sh have run on one.
//
// What: the same o and lse as attention_forward.cu (AttentionArgs in cuda_api.h: causal, additive
//   or boolean mask by strides, L != S; a query with every key masked gets o = 0, lse = -inf),
//   with q k^T and p v taken on the tensor cores: inputs rounded to tf32 (mma.sync m16n8k8,
//   "high") or bf16 (m16n8k16, "medium") while they are staged into shared memory, P rounded the
//   same way in registers; scores, softmax statistics and accumulators stay float32.
// Algorithm (FlashAttention-2's forward): a block of 4 warps owns 64 queries of one (batch, head);
//   each warp owns 16 of them and keeps their q fragments in registers. The block walks the keys
//   in tiles of BK = 64 (K staged as a RowTile, V as a PairTile, see attention_tc.cuh). Per tile a
//   warp computes S = Q K^T (16 x 64) in registers, turns it into log2 units (scale * log2(e)
//   folded into one multiply; masks only on tiles that need them), updates the running row max m
//   with two xor shuffles (the 4 lanes of a row), rescales its row sums l and output accumulators
//   by exp2(m_old - m_new), sets P = exp2(S - m_new), rounds P straight from the accumulator
//   registers into A fragments (no shared memory, no shuffles) and adds P V. Causal blocks stop
//   at their last visible key tile. At the end l is summed over the 4 lanes of the row,
//   o = acc / l and lse = (m + log2 l) * ln 2.
// Layout: q, k, v, o with (batch, head, row) strides and a unit last-dim stride; lse dense
//   (batch, heads, l). Head dims are zero-padded to D = 32 / 64 (tf32) or 32 / 64 / 128 (bf16).
// Launch: grid (batch * heads, ceil(l / 64)), 128 threads, caller's stream. Static shared memory:
//   K tile 64 x (D / EPW + 4) words + V tile (tf32: 64 x (D + 4); bf16: 32 x (D + 8)) words:
//   34.8 KB for tf32 D = 64 and bf16 D = 128, less otherwise (the Q tile is staged in the K
//   buffer first). Registers per thread: q fragments D / 2 (tf32) or D / 4 (bf16), output
//   accumulators D / 2, scores 32. ptxas -v (nvcc 13.0, sm_90), registers / static smem, no spills,
//   no stack: tf32 D=32 120 / 18432 B, D=64 132 / 34816 B; bf16 D=32 119 / 10240 B,
//   D=64 132 / 18432 B, D=128 174 / 34816 B.
// Not here: cp.async / TMA prefetch of the next K / V tile, ldmatrix, wgmma (sm_90a), tf32 for
//   D = 128 (its backward does not fit the register budget; attention_forward.cu runs those).
#include "attention_tc.cuh"

namespace tf::cuda {
namespace {

using attn_detail::AttnParams;

constexpr int kFwdWarps = 4, kFwdBq = 16 * kFwdWarps;

template <class Op, int D>
__global__ void __launch_bounds__(32 * kFwdWarps) attention_tc_fwd_kernel(AttnParams p) {
#if TF_ATTN_TC_BODY
    using namespace attn_tc;
    constexpr int THREADS = 32 * kFwdWarps, BQ = kFwdBq, BK = 64;  // keys per tile
    constexpr int LDR = RowTile<Op, D>::kLd, LDP = Op::pair_ld(D);
    constexpr int KSD = RowTile<Op, D>::kWords / 8;  // k steps over d
    constexpr int NTS = BK / 8, NTO = D / 8;          // n tiles of S and of O
    constexpr int KSK = BK / (8 * Op::kEpw);          // k steps over the keys of a tile
    __shared__ uint32_t sK[BK * LDR];
    __shared__ uint32_t sV[Op::pair_rows(BK) * LDP];
    static_assert(BQ <= BK, "the Q tile is staged in the K buffer");

    const int bh = static_cast<int>(blockIdx.x);
    const int b = bh / p.heads, h = bh - b * p.heads;
    const int q0 = static_cast<int>(blockIdx.y) * BQ;
    const int lane = static_cast<int>(threadIdx.x) % 32, warp = static_cast<int>(threadIdx.x) / 32;
    const int g = lane / 4, t = lane % 4;
    const int wq0 = q0 + 16 * warp;  // this warp's first query
    const float* k = p.k + b * p.sk.b + h * p.sk.h;
    const float* v = p.v + b * p.sv.b + h * p.sv.h;
    const float scale2 = p.scale * kLog2e;

    load_row_tile<Op, BQ, D, THREADS>(sK, p.q + b * p.sq.b + h * p.sq.h, p.sq.l, q0, p.l, p.e);
    __syncthreads();
    uint32_t qf[KSD][4];
#pragma unroll
    for (int ks = 0; ks < KSD; ++ks) a_rows(qf[ks], sK, LDR, 16 * warp, ks, g, t);

    float acc[NTO][4];
#pragma unroll
    for (int n = 0; n < NTO; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;
    float m[2] = {-INFINITY, -INFINITY}, lsum[2] = {0.f, 0.f};  // rows g and g + 8

    const int kend = p.causal ? (q0 + BQ < p.s ? q0 + BQ : p.s) : p.s;
    for (int k0 = 0; k0 < kend; k0 += BK) {
        __syncthreads();  // the Q fragments / the previous K and V tiles have been read
        load_row_tile<Op, BK, D, THREADS>(sK, k, p.sk.l, k0, p.s, p.e);
        load_pair_tile<Op, BK, D, THREADS>(sV, v, p.sv.l, k0, p.s, p.e);
        __syncthreads();

        float s[NTS][4];
#pragma unroll
        for (int n = 0; n < NTS; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
        for (int ks = 0; ks < KSD; ++ks)
#pragma unroll
            for (int n = 0; n < NTS; ++n) {
                uint32_t bf[2];
                b_rows(bf, sK, LDR, 8 * n, ks, g, t);
                Op::mma(s[n], qf[ks], bf);
            }

        // Scores in log2 units; element c of n tile n is query wq0 + g + 8 (c / 2), key
        // k0 + 8 n + 2 t + c % 2.
        const bool plain = k0 + BK <= p.s && tile_unmasked(p, wq0, k0 + BK);
#pragma unroll
        for (int n = 0; n < NTS; ++n)
#pragma unroll
            for (int c = 0; c < 4; ++c) {
                if (plain) {
                    s[n][c] *= scale2;
                } else {
                    const int i = wq0 + g + 8 * (c / 2), j = k0 + 8 * n + 2 * t + c % 2;
                    s[n][c] = (i < p.l && j < p.s) ? score_log2(p, b, h, i, j, s[n][c], scale2) : -INFINITY;
                }
            }

        float mnew[2], alpha[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            float mx = m[r];
#pragma unroll
            for (int n = 0; n < NTS; ++n) mx = fmaxf(mx, fmaxf(s[n][2 * r], s[n][2 * r + 1]));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            mnew[r] = mx == -INFINITY ? 0.f : mx;  // a row with nothing visible yet: P = 0, no NaN
            alpha[r] = exp2f(m[r] - mnew[r]);       // m = -inf -> 0
            m[r] = mx;
            lsum[r] *= alpha[r];
        }
#pragma unroll
        for (int n = 0; n < NTO; ++n) {
            acc[n][0] *= alpha[0];
            acc[n][1] *= alpha[0];
            acc[n][2] *= alpha[1];
            acc[n][3] *= alpha[1];
        }
#pragma unroll
        for (int n = 0; n < NTS; ++n)
#pragma unroll
            for (int c = 0; c < 4; ++c) {
                s[n][c] = exp2f(s[n][c] - mnew[c / 2]);
                lsum[c / 2] += s[n][c];
            }

#pragma unroll
        for (int ks = 0; ks < KSK; ++ks) {
            uint32_t pf[4];
            Op::a_from_acc(pf, &s[ks * Op::kEpw]);
#pragma unroll
            for (int n = 0; n < NTO; ++n) {
                uint32_t bf[2];
                Op::b_pair(bf, sV, LDP, ks * 8 * Op::kEpw, 8 * n, g, t);
                Op::mma(acc[n], pf, bf);
            }
        }
    }

#pragma unroll
    for (int r = 0; r < 2; ++r) {
        lsum[r] += __shfl_xor_sync(0xffffffffu, lsum[r], 1);
        lsum[r] += __shfl_xor_sync(0xffffffffu, lsum[r], 2);
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const int i = wq0 + g + 8 * r;
        if (i >= p.l) continue;
        const float inv = lsum[r] > 0.f ? 1.f / lsum[r] : 0.f;
        float* o = p.out + b * p.so.b + h * p.so.h + int64_t(i) * p.so.l;
#pragma unroll
        for (int n = 0; n < NTO; ++n)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                const int d = 8 * n + 2 * t + c;
                if (d < p.e) o[d] = acc[n][2 * r + c] * inv;
            }
        if (t == 0) p.lse_out[int64_t(bh) * p.l + i] = lsum[r] > 0.f ? (m[r] + log2f(lsum[r])) * kLn2 : -INFINITY;
    }
#else
    (void)p;
    __trap();
#endif
}

template <class Op>
struct TcForwardLauncher {
    const AttnParams& p;
    int64_t bh;
    cudaStream_t stream;
    template <int D>
    void run() const {
        if constexpr (Op::kEpw == 1 && D > 64) {
            throw std::runtime_error("cuda attention_tc_forward: tf32 covers head dims <= 64");
        } else {
            launch<D>();
        }
    }
    template <int D>
    void launch() const {
        const int64_t qtiles = (p.l + kFwdBq - 1) / kFwdBq;
        if (qtiles > 65535) throw std::runtime_error("cuda attention_tc_forward: too many queries for one launch");
        dim3 grid(static_cast<unsigned>(bh), static_cast<unsigned>(qtiles));
        auto* kernel = &attention_tc_fwd_kernel<Op, D>;
        TF_LAUNCH(kernel, grid, 32 * kFwdWarps, stream, p);
        TF_CUDA_CHECK_LAUNCH("attention_tc_fwd_kernel");
    }
};

}  // namespace

bool attention_tc_supported(int64_t e, MatmulPrecision precision) {
    return attn_tc::head_dim_covered(e, precision) && compute_capability(current_device()) >= 80;
}

void attention_tc_forward(const AttentionArgs& a, MatmulPrecision precision, uintptr_t q, uintptr_t k, uintptr_t v,
                          uintptr_t mask, uintptr_t o, uintptr_t lse, uintptr_t stream) {
    attn_detail::validate(a, "cuda attention_tc_forward");
    if (a.batch == 0 || a.heads == 0 || a.l == 0) return;
    require_device();
    if (!attention_tc_supported(a.e, precision))
        throw std::runtime_error("cuda attention_tc_forward: head dimension " + std::to_string(a.e) +
                                 " or this GPU is not covered by the tensor-core kernel (check attention_tc_supported)");
    AttnParams p = attn_detail::forward_params(a, q, k, v, mask, o, lse);
    auto st = reinterpret_cast<cudaStream_t>(stream);
    if (precision == MatmulPrecision::tf32)
        attn_detail::dispatch_head_dim(a.e, TcForwardLauncher<attn_tc::Tf32>{p, a.batch * a.heads, st});
    else
        attn_detail::dispatch_head_dim(a.e, TcForwardLauncher<attn_tc::Bf16>{p, a.batch * a.heads, st});
}

}  // namespace tf::cuda
