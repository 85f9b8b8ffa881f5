// CPU emulation check of the tensor-core attention kernels (attention_tc_forward.cu,
// attention_tc_backward.cu; no GPU needed).
//
// tests/test_cuda_emulated_attention_tc.py compiles this with g++ (ASan + UBSan, and TSan for the
// quick set) with this folder first on the include path, so <cuda_runtime.h> is the stand-in
// whose mma.sync is written from the PTX ISA's fragment tables and computes in double. The .cu
// files themselves run through the tf::cuda API, every CUDA thread a std::thread, outputs
// poisoned with NaN first. References are float64, from the definitions, on inputs rounded the
// way the precision rounds them, written here with frexp / ldexp (not the kernels' bit tricks):
// tf32 keeps 11 significant bits, ties away from zero (cvt.rna); bf16 keeps 8, ties to even.
// What stays between kernel and reference is the rounding of P and dS to the same precision and
// float32 accumulation, hence the tolerances (about 10x the error measured, and well under what
// a dropped rescale, a dropped D term, a wrong fragment word or unrounded (truncated) operands
// give: those were tried and fail). Fully masked queries give o = 0, lse = -inf and zero
// gradients, as attention_forward.cu does.
//
// Usage: emu_attention_tc [quick]  -> one line per case, "ALL PASSED" last, exit 0 on success.
#define TF_CUDA_EMULATE 1

#include "cuda_runtime.h"

#include "../attention_tc_backward.cu"
#include "../attention_tc_forward.cu"

#include <cinttypes>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace tf::cuda {
// What device.cu provides on a real build.
int g_emu_cc = 90;
void require_device() {}
int current_device() { return 0; }
int compute_capability(int) { return g_emu_cc; }
}  // namespace tf::cuda

namespace {

using tf::cuda::MatmulPrecision;

int failures = 0;
const float kNaN = std::numeric_limits<float>::quiet_NaN();

uintptr_t addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

std::vector<float> randn(size_t n, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
}

// x rounded to `bits` significant bits: ties away from zero (tf32) or to even (bf16).
double round_sig(double x, int bits, bool ties_away) {
    if (x == 0 || !std::isfinite(x)) return x;
    int ex;
    const double m = std::frexp(x, &ex);  // |m| in [0.5, 1)
    const double scaled = std::ldexp(m, bits);
    return std::ldexp(ties_away ? std::round(scaled) : std::nearbyint(scaled), ex - bits);
}

double round_op(double x, MatmulPrecision prec) {
    return prec == MatmulPrecision::tf32 ? round_sig(x, 11, true) : round_sig(x, 8, false);
}

bool report(const std::string& what, const std::vector<float>& got, const std::vector<double>& ref, double tol) {
    double e2 = 0, r2 = 0;
    bool bad = got.size() != ref.size();
    for (size_t i = 0; i < got.size() && !bad; ++i) {
        if (!std::isfinite(got[i]) && std::isfinite(ref[i])) bad = true;
        if (std::isfinite(ref[i])) {
            e2 += (got[i] - ref[i]) * (got[i] - ref[i]);
            r2 += ref[i] * ref[i];
        } else if (!(got[i] == ref[i])) {
            bad = true;
        }
    }
    const double rel = std::sqrt(e2) / std::max(std::sqrt(r2), 1e-300);
    const bool ok = !bad && rel < tol;
    std::printf("%s %s rel_err=%.2e (tol %.0e)%s\n", ok ? "ok  " : "FAIL", what.c_str(), rel, tol,
                bad ? " NON-FINITE/MISMATCH" : "");
    if (!ok) ++failures;
    return ok;
}

struct AttnCase {
    MatmulPrecision prec;
    int64_t b, h, l, s, e;
    bool causal;
    int mask_kind;  // 0 none, 1 additive with -inf entries (per batch, broadcast over heads), 2 boolean
    bool q_blhe;    // q, o, dout, dq as (B, L, H, E) views; k, v, dk, dv with padded rows
};

void check_attention(const AttnCase& ac, std::mt19937& rng) {
    const int64_t B = ac.b, H = ac.h, L = ac.l, S = ac.s, E = ac.e;
    tf::cuda::AttentionArgs a;
    a.batch = B, a.heads = H, a.l = L, a.s = S, a.e = E;
    a.scale = static_cast<float>(1.0 / std::sqrt(double(E)));
    a.causal = ac.causal;
    a.mask_kind = ac.mask_kind;
    const tf::cuda::AttnStrides bhle{H * L * E, L * E, E}, blhe{L * H * E, E, H * E};
    const int64_t kld = E + 3;
    const tf::cuda::AttnStrides kvs{H * S * kld, S * kld, kld};
    a.q = a.o = a.dout = a.dq = ac.q_blhe ? blhe : bhle;
    a.k = a.v = a.dk = a.dv = kvs;
    const size_t nq = B * H * L * E, nkv = B * H * S * kld;
    auto q = randn(nq, rng), k = randn(nkv, rng), v = randn(nkv, rng), dout = randn(nq, rng);
    for (auto* x : {&q, &k})
        for (auto& y : *x) y *= 1.5f;  // a sharper softmax
    std::vector<float> addm(B * L * S), o(nq, kNaN), lse(B * H * L, kNaN), dq(nq, kNaN), dk(nkv, kNaN),
        dv(nkv, kNaN), delta(B * H * L, kNaN);
    std::vector<unsigned char> boolm(L * S);
    std::uniform_real_distribution<float> ud(0.f, 1.f);
    for (auto& x : addm) x = ud(rng) < 0.15f ? -INFINITY : 2.f * ud(rng) - 1.f;
    for (auto& x : boolm) x = ud(rng) < 0.7f ? 1 : 0;
    if (L > 3)
        for (int64_t j = 0; j < S; ++j) boolm[2 * S + j] = 0;  // query 2 sees nothing
    const void* mask = nullptr;
    if (ac.mask_kind == 1) {
        mask = addm.data();
        a.mask_stride[0] = L * S, a.mask_stride[1] = 0, a.mask_stride[2] = S, a.mask_stride[3] = 1;
    } else if (ac.mask_kind == 2) {
        mask = boolm.data();
        a.mask_stride[0] = 0, a.mask_stride[1] = 0, a.mask_stride[2] = S, a.mask_stride[3] = 1;
    }
    tf::cuda::attention_tc_forward(a, ac.prec, addr(q.data()), addr(k.data()), addr(v.data()), addr(mask),
                                   addr(o.data()), addr(lse.data()), 0);
    tf::cuda::attention_tc_backward(a, ac.prec, addr(q.data()), addr(k.data()), addr(v.data()), addr(mask),
                                    addr(o.data()), addr(dout.data()), addr(lse.data()), addr(dq.data()),
                                    addr(dk.data()), addr(dv.data()), addr(delta.data()), 0);

    auto at = [&](const tf::cuda::AttnStrides& st, int64_t bi, int64_t hi, int64_t row) {
        return bi * st.b + hi * st.h + row * st.l;
    };
    auto rq = [&](int64_t i) { return round_op(q[i], ac.prec); };
    auto rk = [&](int64_t i) { return round_op(k[i], ac.prec); };
    auto rv = [&](int64_t i) { return round_op(v[i], ac.prec); };
    auto rdo = [&](int64_t i) { return round_op(dout[i], ac.prec); };
    std::vector<float> go, gdq, gdk, gdv, glse, gdelta;
    std::vector<double> ro, rdq, rdk, rdv, rlse, rdelta;
    for (int64_t bi = 0; bi < B; ++bi)
        for (int64_t hi = 0; hi < H; ++hi) {
            std::vector<double> P(L * S, 0.0), Om(L * E, 0.0);
            for (int64_t i = 0; i < L; ++i) {
                std::vector<double> sc(S, -INFINITY);
                double mx = -INFINITY;
                for (int64_t j = 0; j < S; ++j) {
                    if (ac.causal && j > i) continue;
                    double add = 0;
                    if (ac.mask_kind == 1) add = addm[(bi * L + i) * S + j];
                    if (ac.mask_kind == 2 && !boolm[i * S + j]) continue;
                    if (add == -INFINITY) continue;
                    double dot = 0;
                    for (int64_t d = 0; d < E; ++d) dot += rq(at(a.q, bi, hi, i) + d) * rk(at(a.k, bi, hi, j) + d);
                    sc[j] = dot * a.scale + add;
                    mx = std::max(mx, sc[j]);
                }
                double sum = 0;
                for (int64_t j = 0; j < S; ++j) sum += sc[j] == -INFINITY ? 0.0 : std::exp(sc[j] - mx);
                for (int64_t j = 0; j < S; ++j) P[i * S + j] = sc[j] == -INFINITY ? 0.0 : std::exp(sc[j] - mx) / sum;
                for (int64_t d = 0; d < E; ++d) {
                    double acc = 0;
                    for (int64_t j = 0; j < S; ++j) acc += P[i * S + j] * rv(at(a.v, bi, hi, j) + d);
                    Om[i * E + d] = acc;
                    go.push_back(o[at(a.o, bi, hi, i) + d]);
                    ro.push_back(acc);
                }
                glse.push_back(lse[(bi * H + hi) * L + i]);
                rlse.push_back(sum > 0 ? mx + std::log(sum) : -INFINITY);
            }
            std::vector<double> dS(L * S, 0.0);
            for (int64_t i = 0; i < L; ++i) {
                double dl = 0;  // rowsum(dout * o) from the unrounded dout
                for (int64_t d = 0; d < E; ++d) dl += double(dout[at(a.dout, bi, hi, i) + d]) * Om[i * E + d];
                gdelta.push_back(delta[(bi * H + hi) * L + i]);
                rdelta.push_back(dl);
                for (int64_t j = 0; j < S; ++j) {
                    double dp = 0;
                    for (int64_t d = 0; d < E; ++d) dp += rdo(at(a.dout, bi, hi, i) + d) * rv(at(a.v, bi, hi, j) + d);
                    dS[i * S + j] = P[i * S + j] * (dp - dl);
                }
                for (int64_t d = 0; d < E; ++d) {
                    double acc = 0;
                    for (int64_t j = 0; j < S; ++j) acc += dS[i * S + j] * rk(at(a.k, bi, hi, j) + d);
                    rdq.push_back(acc * a.scale);
                    gdq.push_back(dq[at(a.dq, bi, hi, i) + d]);
                }
            }
            for (int64_t j = 0; j < S; ++j)
                for (int64_t d = 0; d < E; ++d) {
                    double ak = 0, av = 0;
                    for (int64_t i = 0; i < L; ++i) {
                        ak += dS[i * S + j] * rq(at(a.q, bi, hi, i) + d);
                        av += P[i * S + j] * rdo(at(a.dout, bi, hi, i) + d);
                    }
                    rdk.push_back(ak * a.scale);
                    rdv.push_back(av);
                    gdk.push_back(dk[at(a.dk, bi, hi, j) + d]);
                    gdv.push_back(dv[at(a.dv, bi, hi, j) + d]);
                }
        }
    const bool tf32 = ac.prec == MatmulPrecision::tf32;
    char name[200];
    std::snprintf(name, sizeof name, "%s B=%" PRId64 " H=%" PRId64 " L=%" PRId64 " S=%" PRId64 " E=%" PRId64 "%s%s%s",
                  tf32 ? "tf32" : "bf16", B, H, L, S, E, ac.causal ? " causal" : "",
                  ac.mask_kind == 1 ? " additive-mask" : ac.mask_kind == 2 ? " bool-mask" : "",
                  ac.q_blhe ? " q(B,L,H,E)" : "");
    // P (and dS) are rounded to the operand precision before their products (2^-11 / 2^-8 relative);
    // measured: o <= 1e-4 / 8e-4, gradients <= 5e-4 / 2.1e-3 (tf32 / bf16), lse <= 1e-7.
    const double tol_o = tf32 ? 3e-4 : 2.5e-3, tol_grad = tf32 ? 1e-3 : 6e-3;
    report(std::string("attention_tc_forward o    ") + name, go, ro, tol_o);
    report(std::string("attention_tc_forward lse  ") + name, glse, rlse, 1e-5);
    report(std::string("attention_tc_backward D   ") + name, gdelta, rdelta, tol_o);
    report(std::string("attention_tc_backward dq  ") + name, gdq, rdq, tol_grad);
    report(std::string("attention_tc_backward dk  ") + name, gdk, rdk, tol_grad);
    report(std::string("attention_tc_backward dv  ") + name, gdv, rdv, tol_grad);
}

void check_supported() {
    using tf::cuda::attention_tc_supported;
    struct Want {
        int cc;
        int64_t e;
        MatmulPrecision prec;
        bool yes;
    };
    const Want wants[] = {
        {90, 64, MatmulPrecision::tf32, true},  {90, 65, MatmulPrecision::tf32, false},
        {90, 128, MatmulPrecision::bf16, true}, {90, 129, MatmulPrecision::bf16, false},
        {80, 1, MatmulPrecision::bf16, true},   {75, 64, MatmulPrecision::bf16, false},
        {90, 0, MatmulPrecision::bf16, false},
    };
    for (const Want& w : wants) {
        tf::cuda::g_emu_cc = w.cc;
        const bool got = attention_tc_supported(w.e, w.prec);
        std::printf("%s attention_tc_supported(cc=%d, e=%" PRId64 ", %s) = %d\n", got == w.yes ? "ok  " : "FAIL", w.cc,
                    w.e, w.prec == MatmulPrecision::tf32 ? "tf32" : "bf16", int(got));
        if (got != w.yes) ++failures;
    }
    tf::cuda::g_emu_cc = 90;
}

}  // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::string(argv[1]) == "quick";
    std::mt19937 rng(2468);
    check_supported();
    const auto T = MatmulPrecision::tf32, F = MatmulPrecision::bf16;
    std::vector<AttnCase> cases;
    // prec, b, h, l, s, e, causal, mask_kind, q_blhe
    if (quick) {
        cases = {
            {T, 1, 1, 37, 70, 20, true, 1, true},    // D = 32: 2 key tiles, causal + additive mask
            {F, 1, 1, 19, 33, 100, false, 2, false}, // D = 128: boolean mask, a fully masked query
        };
    } else {
        cases = {
            {T, 2, 2, 130, 130, 64, false, 0, true},   // 3 tiles each way, (B, L, H, E) views
            {F, 2, 2, 130, 130, 64, false, 0, false},
            {T, 1, 2, 70, 33, 64, true, 1, false},     // causal with L > S, additive mask with -inf
            {F, 1, 2, 33, 130, 128, true, 0, true},    // causal with L < S, D = 128
            {F, 2, 1, 19, 50, 100, false, 2, true},    // boolean mask, a fully masked query
            {T, 1, 1, 7, 1, 40, false, 0, false},      // one key
            {F, 1, 1, 1, 7, 33, true, 0, false},       // one query
            {F, 1, 3, 66, 70, 32, false, 1, false},
            {T, 1, 1, 130, 7, 17, true, 2, false},     // causal, S < 64, most queries past every key
            {F, 1, 1, 45, 130, 128, false, 1, false},  // D = 128, 5 dkv blocks of 32 keys
        };
    }
    for (const auto& c : cases) check_attention(c, rng);
    std::printf("%d launches emulated\n", static_cast<int>(tf_emu::launches));
    if (failures) {
        std::printf("%d FAILED\n", failures);
        return 1;
    }
    std::printf("ALL PASSED\n");
    return 0;
}
