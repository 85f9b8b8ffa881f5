// The fused scaled-dot-product attention interface (flash style) that both backends implement.
//
// For each of `batch` independent problems n (batch x heads flattened by the caller):
//   scores[i][j] = scale * q[n][i] . k[n][j] + mask(n, i, j)      i < L, j < S
//   p[i][:]      = softmax(scores[i][:])
//   out[n][i]    = sum_j dropout(p[i][j]) * v[n][j]
// q is (batch, L, E), k (batch, S, E), v (batch, S, Ev), out (batch, L, Ev), all contiguous.
// The forward also writes lse (batch, L): the log-sum-exp of each score row, which is all the
// backward needs to recompute p tile by tile. No L x S buffer is ever allocated.
//
// Masks (optional, at most one of boolean / additive, plus `causal`):
//   boolean:  uint8, nonzero = attend; additive: same dtype as q, added to the scores.
//   Element (n, i, j) lives at data[batch_offset[n] + i * row_stride + j] (row_stride may be 0:
//   the caller broadcasts over batch and heads by the offsets it passes).
//   causal:   attend only where j <= i (PyTorch's top-left alignment: tril(ones(L, S))).
// A row with nothing to attend to gives out = 0 and zero gradients (PyTorch 2.13's CPU result);
// its lse is stored as +inf so the backward's recomputed p is exactly 0.
//
// Dropout (dropout_p > 0): element (n, i, j) of p is kept with probability 1 - dropout_p and
// scaled by 1 / (1 - dropout_p). Whether it is kept is a pure function of (seed, n, i, j): a
// counter-based hash (splitmix64 finaliser of seed + the element's linear index), so the backward
// regenerates the forward's mask from the same seed without storing it.
#pragma once
#include <cstdint>

namespace tf {

struct AttentionShape {
    int64_t batch = 0, L = 0, S = 0, E = 0, Ev = 0;
};

template <typename T>
struct AttentionMask {
    const uint8_t* boolean = nullptr;  // nonzero = attend
    const T* additive = nullptr;
    const int64_t* batch_offset = nullptr;  // batch entries, in elements
    int64_t row_stride = 0;
    bool causal = false;
};

struct AttentionDropout {
    double p = 0.0;
    uint64_t seed = 0;
};

// Keep decision of the dropout mask for element (n, i, j): shared by forward, backward and tests.
inline bool attention_dropout_keep(const AttentionDropout& d, const AttentionShape& s, int64_t n, int64_t i,
                                   int64_t j) {
    uint64_t x = d.seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>((n * s.L + i) * s.S + j + 1);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    return static_cast<double>(x >> 11) * 0x1.0p-53 >= d.p;
}

namespace cpu {
// out and lse are write-only.
void attention_forward(const AttentionShape& s, float scale, const float* q, const float* k, const float* v,
                       const AttentionMask<float>& mask, const AttentionDropout& drop, float* out, float* lse);
void attention_forward(const AttentionShape& s, double scale, const double* q, const double* k, const double* v,
                       const AttentionMask<double>& mask, const AttentionDropout& drop, double* out, double* lse);

// From the forward's inputs, out, lse and the output gradient dout: dq, dk, dv (write-only), and,
// when dmask is non-null, the gradient of an additive mask as a full (batch, L, S) array (the
// caller reduces it over broadcast dims; only requested when the mask itself needs a gradient).
void attention_backward(const AttentionShape& s, float scale, const float* q, const float* k, const float* v,
                        const AttentionMask<float>& mask, const AttentionDropout& drop, const float* out,
                        const float* lse, const float* dout, float* dq, float* dk, float* dv, float* dmask);
void attention_backward(const AttentionShape& s, double scale, const double* q, const double* k, const double* v,
                        const AttentionMask<double>& mask, const AttentionDropout& drop, const double* out,
                        const double* lse, const double* dout, double* dq, double* dk, double* dv,
                        double* dmask);
}  // namespace cpu

}  // namespace tf
