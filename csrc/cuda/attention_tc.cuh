// attention_tc.cuh: what the tensor-core attention kernels (attention_tc_forward.cu,
// attention_tc_backward.cu) share: the two product precisions (tf32 m16n8k8 and bf16 m16n8k16
// mma.sync with float32 accumulation), the two shared-memory tile layouts the fragments are read
// from, the fragment reads, the accumulator-to-A-fragment conversion, and the score rule in log2
// units.
//
// NOT YET RUN ON A GPU: compiled with nvcc and run on the CPU under TF_CUDA_EMULATE only.
//
// Fragments (PTX ISA, "Matrix Fragments for mma.m16n8k8 / m16n8k16"), lane = 4 g + t:
//   C/D 16 x 8:  c0 (g, 2t)  c1 (g, 2t+1)  c2 (g+8, 2t)  c3 (g+8, 2t+1)
//   A 16 x K:    4 words; word i holds row g + 8 (i % 2), k words t + 4 (i / 2) (one tf32, or two
//                bf16 with the lower k in the low half)
//   B K x 8:     2 words; word i holds column g, k words t + 4 i
// A "word" is one tf32 value or a pair of bf16 values consecutive along k; a k step is always 8
// words (8 tf32 or 16 bf16).
//
// Shared-memory tiles (32-bit words, padded so the fragment reads of a warp hit 32 banks):
//   RowTile  [rows][D / EPW + 4]: row r holds its D elements packed along d (EPW = elements per
//            word). Read as A (16 rows, k = d) or as B with n = row, k = d (S = Q K^T, dP = dO V^T).
//   PairTile the same matrix with k = row, n = d, for B operands of P V, dS K, P^T dO, dS^T Q:
//            tf32: the RowTile itself [rows][D + 4]; bf16: [rows / 2][D + 8], word (p, d) holds
//            (X[2p][d], X[2p+1][d]).
//   The B fragment of a PairTile for the k step of rows k0..: tf32 reads rows k0 + 2t and
//   k0 + 2t + 1 (column g), i.e. the k order inside the step is permuted (k index t <-> row 2t,
//   t + 4 <-> row 2t + 1); the A fragment built from an accumulator (P or dS, whose lane holds
//   columns 2t and 2t + 1) uses the same permutation, so no shuffles are needed: a = {c0, c2, c1, c3}.
//   bf16 reads pairs k0/2 + t and k0/2 + t + 4, and the accumulators of two adjacent n tiles are
//   already in the A layout: a = {pack(c0, c1), pack(c2, c3)} of the first, then of the second.
#pragma once
#include "attention_common.cuh"
#include "device_props.cuh"
#include "mma_sync.cuh"
#include "tensor_core_rounding.cuh"

// The kernel bodies are compiled for sm_80 and newer (and the CPU emulation); older targets get
// a trap (the launchers never pick these kernels there).
#if defined(TF_CUDA_EMULATE) || !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define TF_ATTN_TC_BODY 1
#else
#define TF_ATTN_TC_BODY 0
#endif

namespace tf::cuda::attn_tc {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// Operand rounding shared with the tensor-core GEMMs: tf32 as cvt.rna, bfloat16 to nearest even.
using tensor_core_rounding::round_to_bf16;
using tensor_core_rounding::round_to_tf32;

struct Tf32 {
    static constexpr int kEpw = 1;  // elements per 32-bit word
    __device__ __forceinline__ static uint32_t pack(float lo, float) { return round_to_tf32(lo); }
    // A fragment of one k step from the accumulators of its n tiles (1 for tf32).
    __device__ __forceinline__ static void a_from_acc(uint32_t (&a)[4], const float (*c)[4]) {
        a[0] = round_to_tf32(c[0][0]);
        a[1] = round_to_tf32(c[0][2]);
        a[2] = round_to_tf32(c[0][1]);
        a[3] = round_to_tf32(c[0][3]);
    }
    // PairTile: rows of the tile, words per row.
    __host__ __device__ static constexpr int pair_rows(int rows) { return rows; }
    __host__ __device__ static constexpr int pair_ld(int d) { return d + 4; }
    __device__ __forceinline__ static void b_pair(uint32_t (&b)[2], const uint32_t* tile, int ld, int k0, int n0,
                                                  int g, int t) {
        b[0] = tile[(k0 + 2 * t) * ld + n0 + g];
        b[1] = tile[(k0 + 2 * t + 1) * ld + n0 + g];
    }
    __device__ __forceinline__ static void mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
        mma_m16n8k8_tf32(d, a, b);
    }
};

struct Bf16 {
    static constexpr int kEpw = 2;
    __device__ __forceinline__ static uint32_t pack(float lo, float hi) {
        return round_to_bf16(lo) | (round_to_bf16(hi) << 16);
    }
    __device__ __forceinline__ static void a_from_acc(uint32_t (&a)[4], const float (*c)[4]) {
        a[0] = pack(c[0][0], c[0][1]);
        a[1] = pack(c[0][2], c[0][3]);
        a[2] = pack(c[1][0], c[1][1]);
        a[3] = pack(c[1][2], c[1][3]);
    }
    __host__ __device__ static constexpr int pair_rows(int rows) { return rows / 2; }
    __host__ __device__ static constexpr int pair_ld(int d) { return d + 8; }
    __device__ __forceinline__ static void b_pair(uint32_t (&b)[2], const uint32_t* tile, int ld, int k0, int n0,
                                                  int g, int t) {
        b[0] = tile[(k0 / 2 + t) * ld + n0 + g];
        b[1] = tile[(k0 / 2 + t + 4) * ld + n0 + g];
    }
    __device__ __forceinline__ static void mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
        mma_m16n8k16_bf16(d, a, b);
    }
};

// Words per row of a RowTile and its padded stride.
template <class Op, int D>
struct RowTile {
    static constexpr int kWords = D / Op::kEpw;
    static constexpr int kLd = kWords + 4;
};

// Rows [r0, r0 + R) of a (n, e) float32 matrix (row stride ld, unit column stride) into a RowTile,
// rounded to Op; zero outside. All THREADS threads of the block take part.
template <class Op, int R, int D, int THREADS>
__device__ __forceinline__ void load_row_tile(uint32_t* __restrict__ dst, const float* __restrict__ src, int64_t ld,
                                              int r0, int n, int e) {
    constexpr int W = RowTile<Op, D>::kWords, LD = RowTile<Op, D>::kLd;
    for (int idx = static_cast<int>(threadIdx.x); idx < R * W; idx += THREADS) {
        const int r = idx / W, w = idx - r * W;
        const int gr = r0 + r, d = w * Op::kEpw;
        float x0 = 0.f, x1 = 0.f;
        if (gr < n) {
            const float* row = src + int64_t(gr) * ld;
            if (d < e) x0 = row[d];
            if (Op::kEpw == 2 && d + 1 < e) x1 = row[d + 1];
        }
        dst[r * LD + w] = Op::pack(x0, x1);
    }
}

// The same rows into a PairTile (k = row, n = d). For tf32 this is load_row_tile.
template <class Op, int R, int D, int THREADS>
__device__ __forceinline__ void load_pair_tile(uint32_t* __restrict__ dst, const float* __restrict__ src, int64_t ld,
                                               int r0, int n, int e) {
    if (Op::kEpw == 1) {
        load_row_tile<Op, R, D, THREADS>(dst, src, ld, r0, n, e);
        return;
    }
    constexpr int LD = Op::pair_ld(D);
    for (int idx = static_cast<int>(threadIdx.x); idx < (R / 2) * D; idx += THREADS) {
        const int pr = idx / D, d = idx - pr * D;
        const int gr = r0 + 2 * pr;
        float x0 = 0.f, x1 = 0.f;
        if (d < e) {
            if (gr < n) x0 = src[int64_t(gr) * ld + d];
            if (gr + 1 < n) x1 = src[int64_t(gr + 1) * ld + d];
        }
        dst[pr * LD + d] = Op::pack(x0, x1);
    }
}

// A fragment of rows r0..r0+15, k step ks (words 8 ks..8 ks + 7) of a RowTile with stride ld.
__device__ __forceinline__ void a_rows(uint32_t (&a)[4], const uint32_t* tile, int ld, int r0, int ks, int g, int t) {
    const uint32_t* p = tile + (r0 + g) * ld + 8 * ks + t;
    a[0] = p[0];
    a[1] = p[8 * ld];
    a[2] = p[4];
    a[3] = p[8 * ld + 4];
}

// B fragment with n = rows n0..n0+7 of a RowTile, k step ks.
__device__ __forceinline__ void b_rows(uint32_t (&b)[2], const uint32_t* tile, int ld, int n0, int ks, int g, int t) {
    const uint32_t* p = tile + (n0 + g) * ld + 8 * ks + t;
    b[0] = p[0];
    b[1] = p[4];
}

// The score of (query i, key j) in log2 units, scale2 = scale * log2(e): scale2 * dot (+ the
// additive mask * log2(e)), or -inf where masked. i < l and j < s are the caller's business.
__device__ __forceinline__ float score_log2(const attn_detail::AttnParams& p, int b, int h, int i, int j, float dot, float scale2) {
    float add;
    if (!attn_detail::score_term(p, b, h, i, j, add)) return -INFINITY;
    return p.mask_kind == 1 ? fmaf(add, kLog2e, dot * scale2) : dot * scale2;
}

// Whether every (query, key) of the rectangle [i0, i1) x [j0, j1) (i1 <= l, j1 <= s) is unmasked
// without looking: no mask tensor, and not cut by the causal diagonal.
__device__ __forceinline__ bool tile_unmasked(const attn_detail::AttnParams& p, int i0, int j1) {
    return p.mask_kind == 0 && (!p.causal || j1 - 1 <= i0);
}

// The tensor-core path covers tf32 for head dims <= 64 and bf16 for head dims <= 128 (padded to
// 32 / 64 / 128), on compute capability 8.0 or newer.
inline bool head_dim_covered(int64_t e, MatmulPrecision precision) {
    return e >= 1 && e <= (precision == MatmulPrecision::tf32 ? 64 : 128);
}

}  // namespace tf::cuda::attn_tc
