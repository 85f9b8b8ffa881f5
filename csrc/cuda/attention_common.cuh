// attention_common.cuh: what attention_forward.cu and attention_backward.cu share: the kernel
// parameter block, tile loaders, the score / mask rule, and the head-dim dispatch.
//
// NOT YET RUN ON A GPU: compiled with nvcc and run on the CPU under TF_CUDA_EMULATE only.
#pragma once
#include <cuda_runtime.h>

#include <tensorforge/cuda_api.h>

#include "check.cuh"
#include "launch.cuh"

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tf::cuda::attn_detail {

struct AttnParams {
    const float* q;
    const float* k;
    const float* v;
    const void* mask;
    const float* o;     // backward: the forward's output
    const float* dout;  // backward
    const float* lse;   // backward (read)
    float* out;         // forward: o
    float* lse_out;     // forward
    float* dq;
    float* dk;
    float* dv;
    float* delta;       // tensor-core backward: rowsum(dout * o) (batch, heads, l), dq kernel -> dkv kernel
    AttnStrides sq, sk, sv, so, sdo, sdq, sdk, sdv;
    int64_t ms[4];
    int heads, l, s, e;
    float scale;
    bool causal;
    int mask_kind;
};

// Loads rows [r0, r0 + R) of a (rows, e) matrix with row stride `ld` into a shared tile
// [R][LDS], zero outside (rows >= n or columns >= e). All threads of the block take part.
template <int R, int D, int LDS, int THREADS>
__device__ __forceinline__ void load_rows(float* __restrict__ dst, const float* __restrict__ src, int64_t ld, int r0,
                                          int n, int e) {
    for (int idx = static_cast<int>(threadIdx.x); idx < R * D; idx += THREADS) {
        const int r = idx / D, d = idx - r * D;
        const int gr = r0 + r;
        dst[r * LDS + d] = (gr < n && d < e) ? src[int64_t(gr) * ld + d] : 0.f;
    }
}

// Whether (query i, key j) takes part, and the additive mask term. i < l and j < s are the
// caller's business.
__device__ __forceinline__ bool score_term(const AttnParams& p, int b, int h, int i, int j, float& add) {
    add = 0.f;
    if (p.causal && j > i) return false;
    if (p.mask_kind == 0) return true;
    const int64_t off = int64_t(b) * p.ms[0] + int64_t(h) * p.ms[1] + int64_t(i) * p.ms[2] + int64_t(j) * p.ms[3];
    if (p.mask_kind == 1) {
        add = static_cast<const float*>(p.mask)[off];
        return add != -INFINITY;
    }
    return static_cast<const unsigned char*>(p.mask)[off] != 0;
}

inline void validate(const AttentionArgs& a, const char* what) {
    auto bad = [&](const std::string& why) { throw std::runtime_error(std::string(what) + ": " + why); };
    if (a.batch < 0 || a.heads < 0 || a.l < 0 || a.s < 0 || a.e < 0) bad("negative size");
    if (a.e > 128) bad("head dimension " + std::to_string(a.e) + " > 128 is not supported");
    if (a.l > 0x7fffffff || a.s > 0x7fffffff || a.heads > 0x7fffffff || a.batch * a.heads > 0x7fffffff)
        bad("sizes exceed 32-bit indexing");
    if (a.mask_kind < 0 || a.mask_kind > 2) bad("mask_kind must be 0, 1 or 2");
}

// Head-dim dispatch: F::template run<D>() for the smallest D in {32, 64, 128} >= e.
template <class F>
void dispatch_head_dim(int64_t e, F&& f) {
    if (e <= 32) f.template run<32>();
    else if (e <= 64) f.template run<64>();
    else f.template run<128>();
}

inline AttnParams make_params(const AttentionArgs& a) {
    AttnParams p{};
    p.sq = a.q, p.sk = a.k, p.sv = a.v, p.so = a.o, p.sdo = a.dout, p.sdq = a.dq, p.sdk = a.dk, p.sdv = a.dv;
    for (int i = 0; i < 4; ++i) p.ms[i] = a.mask_stride[i];
    p.heads = static_cast<int>(a.heads), p.l = static_cast<int>(a.l), p.s = static_cast<int>(a.s);
    p.e = static_cast<int>(a.e);
    p.scale = a.scale;
    p.causal = a.causal;
    p.mask_kind = a.mask_kind;
    return p;
}

// The parameter block with the inputs both passes read: q, k, v and the optional mask.
inline AttnParams input_params(const AttentionArgs& a, uintptr_t q, uintptr_t k, uintptr_t v, uintptr_t mask) {
    AttnParams p = make_params(a);
    p.q = reinterpret_cast<const float*>(q);
    p.k = reinterpret_cast<const float*>(k);
    p.v = reinterpret_cast<const float*>(v);
    p.mask = reinterpret_cast<const void*>(mask);
    return p;
}

// The forward's: the inputs read, o and the log-sum-exp written.
inline AttnParams forward_params(const AttentionArgs& a, uintptr_t q, uintptr_t k, uintptr_t v, uintptr_t mask,
                                 uintptr_t o, uintptr_t lse) {
    AttnParams p = input_params(a, q, k, v, mask);
    p.out = reinterpret_cast<float*>(o);
    p.lse_out = reinterpret_cast<float*>(lse);
    return p;
}

// The backward's: the inputs, the forward's output and log-sum-exp and dout read; dq, dk, dv written.
inline AttnParams backward_params(const AttentionArgs& a, uintptr_t q, uintptr_t k, uintptr_t v, uintptr_t mask,
                                  uintptr_t o, uintptr_t dout, uintptr_t lse, uintptr_t dq, uintptr_t dk,
                                  uintptr_t dv) {
    AttnParams p = input_params(a, q, k, v, mask);
    p.o = reinterpret_cast<const float*>(o);
    p.dout = reinterpret_cast<const float*>(dout);
    p.lse = reinterpret_cast<const float*>(lse);
    p.dq = reinterpret_cast<float*>(dq);
    p.dk = reinterpret_cast<float*>(dk);
    p.dv = reinterpret_cast<float*>(dv);
    return p;
}

}  // namespace tf::cuda::attn_detail
