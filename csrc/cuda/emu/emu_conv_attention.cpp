// CPU emulation check of the CUDA conv2d, pooling and attention kernels (no GPU needed).
//
// tests/test_cuda_emulated_conv_attention.py compiles this with g++ (ASan + UBSan, and TSan for
// the quick set) with this folder first on the include path, so <cuda_runtime.h> is the stand-in
// here, and runs it. It includes the .cu files themselves: the kernels and launchers that nvcc
// compiles run through the tf::cuda API with every CUDA thread a std::thread. Outputs are
// poisoned with NaN first; results are compared with float64 references written here from the
// definitions (not from the kernels' algorithms) by ||out - ref|| / ||ref||. This checks indexing,
// bounds, edge handling and barriers; it says nothing about nvcc's code or speed on a GPU.
//
// Usage: emu_conv_attention [quick]  -> one line per case, "ALL PASSED" last, exit 0 on success.
#define TF_CUDA_EMULATE 1

#include "cuda_runtime.h"

#include "../conv2d_forward.cu"
#include "../conv2d_grad_input.cu"
#include "../conv2d_grad_weight.cu"
#include "../pool2d.cu"
#include "../attention_backward.cu"
#include "../attention_forward.cu"

#include <cinttypes>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace tf::cuda {
// What device.cu provides on a real build.
int g_emu_sms = 1;
void require_device() {}
int current_device() { return 0; }
int multiprocessor_count(int) { return g_emu_sms; }
}  // namespace tf::cuda

namespace {

int failures = 0;
const float kNaN = std::numeric_limits<float>::quiet_NaN();

uintptr_t addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

std::vector<float> randn(size_t n, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
}

// rel = ||got - ref|| / ||ref||; non-finite output counts as a failure.
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
    std::printf("%s %s rel_err=%.2e%s\n", ok ? "ok  " : "FAIL", what.c_str(), rel, bad ? " NON-FINITE/MISMATCH" : "");
    if (!ok) ++failures;
    return ok;
}

// ---------------------------------------------------------------------------------------------
// conv2d

struct ConvCase {
    int64_t n, c_in, h, w, c_out, kh, kw, sh, sw, ph, pw, dh, dw, groups;
    bool bias;
    int sms;
};

void check_conv(const ConvCase& cc, std::mt19937& rng) {
    tf::Conv2dShape s;
    s.n = cc.n, s.c_in = cc.c_in, s.h = cc.h, s.w = cc.w, s.c_out = cc.c_out, s.kh = cc.kh, s.kw = cc.kw;
    s.stride_h = cc.sh, s.stride_w = cc.sw, s.pad_h = cc.ph, s.pad_w = cc.pw, s.dil_h = cc.dh, s.dil_w = cc.dw;
    s.groups = cc.groups;
    s.oh = (s.h + 2 * s.pad_h - s.dil_h * (s.kh - 1) - 1) / s.stride_h + 1;
    s.ow = (s.w + 2 * s.pad_w - s.dil_w * (s.kw - 1) - 1) / s.stride_w + 1;
    const int64_t cg = s.c_in / s.groups, kg = s.c_out / s.groups;
    const auto x = randn(s.n * s.c_in * s.h * s.w, rng);
    const auto w = randn(s.c_out * cg * s.kh * s.kw, rng);
    const auto b = randn(s.c_out, rng);
    const auto dy = randn(s.n * s.c_out * s.oh * s.ow, rng);
    std::vector<float> y(dy.size(), kNaN), dx(x.size(), kNaN), dw(w.size(), kNaN);
    tf::cuda::g_emu_sms = cc.sms;
    tf::cuda::conv2d_forward(s, addr(x.data()), addr(w.data()), cc.bias ? addr(b.data()) : 0, addr(y.data()), 0);
    tf::cuda::conv2d_grad_input(s, addr(dy.data()), addr(w.data()), addr(dx.data()), 0);
    tf::cuda::conv2d_grad_weight(s, addr(x.data()), addr(dy.data()), addr(dw.data()), 0);

    std::vector<double> ry(y.size(), 0.0), rdx(x.size(), 0.0), rdw(w.size(), 0.0);
    for (int64_t bi = 0; bi < s.n; ++bi)
        for (int64_t o = 0; o < s.c_out; ++o) {
            const int64_t g = o / kg;
            for (int64_t i = 0; i < s.oh; ++i)
                for (int64_t j = 0; j < s.ow; ++j) {
                    const int64_t yi = ((bi * s.c_out + o) * s.oh + i) * s.ow + j;
                    double acc = cc.bias ? b[o] : 0.0;
                    for (int64_t c = 0; c < cg; ++c)
                        for (int64_t p = 0; p < s.kh; ++p)
                            for (int64_t q = 0; q < s.kw; ++q) {
                                const int64_t ih = i * s.stride_h - s.pad_h + p * s.dil_h;
                                const int64_t iw = j * s.stride_w - s.pad_w + q * s.dil_w;
                                if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
                                const int64_t xi = ((bi * s.c_in + g * cg + c) * s.h + ih) * s.w + iw;
                                const int64_t wi = ((o * cg + c) * s.kh + p) * s.kw + q;
                                acc += double(w[wi]) * x[xi];
                                rdx[xi] += double(w[wi]) * dy[yi];
                                rdw[wi] += double(x[xi]) * dy[yi];
                            }
                    ry[yi] = acc;
                }
        }
    char name[256];
    std::snprintf(name, sizeof name,
                  "n=%" PRId64 " c=%" PRId64 "->%" PRId64 " %" PRId64 "x%" PRId64 " k=%" PRId64 "x%" PRId64
                  " s=%" PRId64 ",%" PRId64 " p=%" PRId64 ",%" PRId64 " d=%" PRId64 ",%" PRId64 " g=%" PRId64
                  "%s sms=%d",
                  s.n, s.c_in, s.c_out, s.h, s.w, s.kh, s.kw, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dil_h,
                  s.dil_w, s.groups, cc.bias ? " bias" : "", cc.sms);
    report(std::string("conv2d_forward     ") + name, y, ry, 1e-5);
    report(std::string("conv2d_grad_input  ") + name, dx, rdx, 1e-5);
    report(std::string("conv2d_grad_weight ") + name, dw, rdw, 1e-5);
}

// ---------------------------------------------------------------------------------------------
// pooling (references from PyTorch's definitions)

struct PoolCase {
    int64_t planes, h, w, kh, kw, sh, sw, ph, pw, dh, dw;
    bool ceil_mode, include_pad;
    int64_t divisor;
};

int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
    const int64_t span = in + 2 * p - d * (k - 1) - 1;
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + p) --o;  // the last window must start inside the image or left pad
    return o;
}

void check_pool(const PoolCase& pc, std::mt19937& rng) {
    tf::Pool2dShape s;
    s.planes = pc.planes, s.h = pc.h, s.w = pc.w, s.kh = pc.kh, s.kw = pc.kw, s.stride_h = pc.sh,
    s.stride_w = pc.sw, s.pad_h = pc.ph, s.pad_w = pc.pw, s.dil_h = pc.dh, s.dil_w = pc.dw;
    s.oh = pool_out(s.h, s.kh, s.stride_h, s.pad_h, s.dil_h, pc.ceil_mode);
    s.ow = pool_out(s.w, s.kw, s.stride_w, s.pad_w, s.dil_w, pc.ceil_mode);
    auto x = randn(s.planes * s.h * s.w, rng);
    for (size_t i = 0; i < x.size(); i += 5) x[i] = std::round(x[i]);  // ties: the first maximum must win
    const auto dy = randn(s.planes * s.oh * s.ow, rng);
    std::vector<float> y(dy.size(), kNaN), dx(x.size(), kNaN);
    std::vector<int64_t> idx(dy.size(), -7);
    std::vector<double> ry(y.size()), rdx(x.size(), 0.0);
    std::vector<int64_t> ridx(y.size());
    for (int64_t pl = 0; pl < s.planes; ++pl)
        for (int64_t i = 0; i < s.oh; ++i)
            for (int64_t j = 0; j < s.ow; ++j) {
                double best = -INFINITY;
                int64_t arg = -1;
                for (int64_t p = 0; p < s.kh; ++p)
                    for (int64_t q = 0; q < s.kw; ++q) {
                        const int64_t r = i * s.stride_h - s.pad_h + p * s.dil_h, c = j * s.stride_w - s.pad_w + q * s.dil_w;
                        if (r < 0 || r >= s.h || c < 0 || c >= s.w) continue;
                        if (arg < 0 || x[pl * s.h * s.w + r * s.w + c] > best) {
                            best = x[pl * s.h * s.w + r * s.w + c];
                            arg = r * s.w + c;
                        }
                    }
                const int64_t e = (pl * s.oh + i) * s.ow + j;
                ry[e] = best;
                ridx[e] = arg;
                if (arg >= 0) rdx[pl * s.h * s.w + arg] += dy[e];
            }
    tf::cuda::max_pool2d_forward(s, addr(x.data()), addr(y.data()), addr(idx.data()), 0);
    tf::cuda::max_pool2d_backward(s, addr(dy.data()), addr(ridx.data()), addr(dx.data()), 0);
    char name[200];
    std::snprintf(name, sizeof name,
                  "planes=%" PRId64 " %" PRId64 "x%" PRId64 " k=%" PRId64 "x%" PRId64 " s=%" PRId64 ",%" PRId64
                  " p=%" PRId64 ",%" PRId64 " d=%" PRId64 ",%" PRId64 "%s",
                  s.planes, s.h, s.w, s.kh, s.kw, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dil_h, s.dil_w,
                  pc.ceil_mode ? " ceil" : "");
    report(std::string("max_pool2d_forward  ") + name, y, ry, 1e-7);
    if (idx != ridx) {
        std::printf("FAIL max_pool2d_forward indices differ %s\n", name);
        ++failures;
    }
    report(std::string("max_pool2d_backward ") + name, dx, rdx, 1e-6);

    if (s.dil_h != 1 || s.dil_w != 1) return;  // avg pooling has no dilation
    std::vector<double> ray(y.size()), radx(x.size(), 0.0);
    for (int64_t pl = 0; pl < s.planes; ++pl)
        for (int64_t i = 0; i < s.oh; ++i)
            for (int64_t j = 0; j < s.ow; ++j) {
                int64_t h0 = i * s.stride_h - s.pad_h, w0 = j * s.stride_w - s.pad_w;
                int64_t h1 = std::min(h0 + s.kh, s.h + s.pad_h), w1 = std::min(w0 + s.kw, s.w + s.pad_w);
                const int64_t padded = (h1 - h0) * (w1 - w0);
                h0 = std::max<int64_t>(h0, 0), w0 = std::max<int64_t>(w0, 0);
                h1 = std::min(h1, s.h), w1 = std::min(w1, s.w);
                const double div = pc.divisor > 0 ? pc.divisor : pc.include_pad ? padded : (h1 - h0) * (w1 - w0);
                double sum = 0;
                const int64_t e = (pl * s.oh + i) * s.ow + j;
                for (int64_t r = h0; r < h1; ++r)
                    for (int64_t c = w0; c < w1; ++c) {
                        sum += x[pl * s.h * s.w + r * s.w + c];
                        radx[pl * s.h * s.w + r * s.w + c] += dy[e] / div;
                    }
                ray[e] = sum / div;
            }
    std::fill(y.begin(), y.end(), kNaN);
    std::fill(dx.begin(), dx.end(), kNaN);
    tf::cuda::avg_pool2d_forward(s, pc.include_pad, pc.divisor, addr(x.data()), addr(y.data()), 0);
    tf::cuda::avg_pool2d_backward(s, pc.include_pad, pc.divisor, addr(dy.data()), addr(dx.data()), 0);
    const std::string extra = std::string(pc.include_pad ? " include_pad" : "") +
                              (pc.divisor > 0 ? " divisor=" + std::to_string(pc.divisor) : "");
    report(std::string("avg_pool2d_forward  ") + name + extra, y, ray, 1e-6);
    report(std::string("avg_pool2d_backward ") + name + extra, dx, radx, 1e-6);
}

// ---------------------------------------------------------------------------------------------
// attention

struct AttnCase {
    int64_t b, h, l, s, e;
    bool causal;
    int mask_kind;      // 0 none, 1 additive (broadcast over heads), 2 boolean (broadcast over batch and heads)
    bool q_blhe;        // q, o, dq as (B, L, H, E) views; k, v with padded rows
};

void check_attention(const AttnCase& ac, std::mt19937& rng) {
    const int64_t B = ac.b, H = ac.h, L = ac.l, S = ac.s, E = ac.e;
    tf::cuda::AttentionArgs a;
    a.batch = B, a.heads = H, a.l = L, a.s = S, a.e = E;
    a.scale = static_cast<float>(1.0 / std::sqrt(double(E)));
    a.causal = ac.causal;
    a.mask_kind = ac.mask_kind;
    const tf::cuda::AttnStrides bhle{H * L * E, L * E, E}, blhe{L * H * E, E, H * E};
    const int64_t kld = E + 3;  // padded rows for k, v, dk, dv
    const tf::cuda::AttnStrides kvs{H * S * kld, S * kld, kld};
    a.q = a.o = a.dout = a.dq = ac.q_blhe ? blhe : bhle;
    a.k = a.v = a.dk = a.dv = kvs;
    const size_t nq = B * H * L * E, nkv = B * H * S * kld;
    auto q = randn(nq, rng), k = randn(nkv, rng), v = randn(nkv, rng), dout = randn(nq, rng);
    for (auto* t : {&q, &k}) for (auto& x : *t) x *= 1.5f;  // sharper softmax
    std::vector<float> addm(B * L * S), o(nq, kNaN), lse(B * H * L, kNaN), dq(nq, kNaN), dk(nkv, kNaN),
        dv(nkv, kNaN);
    std::vector<unsigned char> boolm(L * S);
    std::uniform_real_distribution<float> ud(0.f, 1.f);
    for (auto& x : addm) x = ud(rng) < 0.15f ? -INFINITY : 2.f * ud(rng) - 1.f;
    for (auto& x : boolm) x = ud(rng) < 0.7f ? 1 : 0;
    if (L > 3)
        for (int64_t j = 0; j < S; ++j) boolm[2 * S + j] = 0;  // query 2 sees nothing: o = 0, no gradient
    const void* mask = nullptr;
    if (ac.mask_kind == 1) {
        mask = addm.data();
        a.mask_stride[0] = L * S, a.mask_stride[1] = 0, a.mask_stride[2] = S, a.mask_stride[3] = 1;
    } else if (ac.mask_kind == 2) {
        mask = boolm.data();
        a.mask_stride[0] = 0, a.mask_stride[1] = 0, a.mask_stride[2] = S, a.mask_stride[3] = 1;
    }
    tf::cuda::attention_forward(a, addr(q.data()), addr(k.data()), addr(v.data()), addr(mask), addr(o.data()),
                                addr(lse.data()), 0);
    tf::cuda::attention_backward(a, addr(q.data()), addr(k.data()), addr(v.data()), addr(mask), addr(o.data()),
                                 addr(dout.data()), addr(lse.data()), addr(dq.data()), addr(dk.data()),
                                 addr(dv.data()), 0);

    // float64 reference from the definition (full score matrix).
    auto at = [&](const tf::cuda::AttnStrides& st, int64_t bi, int64_t hi, int64_t row) {
        return bi * st.b + hi * st.h + row * st.l;
    };
    // Compare only the elements the kernels own (padding of k / v rows is not output).
    std::vector<float> go, gdq, gdk, gdv, glse;
    std::vector<double> ro, rdq, rdk, rdv, rlse;
    for (int64_t bi = 0; bi < B; ++bi)
        for (int64_t hi = 0; hi < H; ++hi) {
            std::vector<double> P(L * S, 0.0), Om(L * E, 0.0);
            std::vector<double> rowlse(L);
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
                    for (int64_t d = 0; d < E; ++d) dot += double(q[at(a.q, bi, hi, i) + d]) * k[at(a.k, bi, hi, j) + d];
                    sc[j] = dot * a.scale + add;
                    mx = std::max(mx, sc[j]);
                }
                double sum = 0;
                for (int64_t j = 0; j < S; ++j) sum += sc[j] == -INFINITY ? 0.0 : std::exp(sc[j] - mx);
                rowlse[i] = sum > 0 ? mx + std::log(sum) : -INFINITY;
                for (int64_t j = 0; j < S; ++j) P[i * S + j] = sc[j] == -INFINITY ? 0.0 : std::exp(sc[j] - mx) / sum;
                for (int64_t d = 0; d < E; ++d) {
                    double acc = 0;
                    for (int64_t j = 0; j < S; ++j) acc += P[i * S + j] * v[at(a.v, bi, hi, j) + d];
                    Om[i * E + d] = acc;
                    go.push_back(o[at(a.o, bi, hi, i) + d]);
                    ro.push_back(acc);
                }
                glse.push_back(lse[(bi * H + hi) * L + i]);
                rlse.push_back(rowlse[i]);
            }
            // backward
            std::vector<double> dS(L * S, 0.0);
            for (int64_t i = 0; i < L; ++i) {
                double delta = 0;
                for (int64_t d = 0; d < E; ++d) delta += double(dout[at(a.dout, bi, hi, i) + d]) * Om[i * E + d];
                for (int64_t j = 0; j < S; ++j) {
                    double dp = 0;
                    for (int64_t d = 0; d < E; ++d) dp += double(dout[at(a.dout, bi, hi, i) + d]) * v[at(a.v, bi, hi, j) + d];
                    dS[i * S + j] = P[i * S + j] * (dp - delta);
                }
                for (int64_t d = 0; d < E; ++d) {
                    double acc = 0;
                    for (int64_t j = 0; j < S; ++j) acc += dS[i * S + j] * k[at(a.k, bi, hi, j) + d];
                    rdq.push_back(acc * a.scale);
                    gdq.push_back(dq[at(a.dq, bi, hi, i) + d]);
                }
            }
            for (int64_t j = 0; j < S; ++j)
                for (int64_t d = 0; d < E; ++d) {
                    double ak = 0, av = 0;
                    for (int64_t i = 0; i < L; ++i) {
                        ak += dS[i * S + j] * q[at(a.q, bi, hi, i) + d];
                        av += P[i * S + j] * dout[at(a.dout, bi, hi, i) + d];
                    }
                    rdk.push_back(ak * a.scale);
                    rdv.push_back(av);
                    gdk.push_back(dk[at(a.dk, bi, hi, j) + d]);
                    gdv.push_back(dv[at(a.dv, bi, hi, j) + d]);
                }
        }
    char name[200];
    std::snprintf(name, sizeof name, "B=%" PRId64 " H=%" PRId64 " L=%" PRId64 " S=%" PRId64 " E=%" PRId64 "%s%s%s",
                  B, H, L, S, E, ac.causal ? " causal" : "",
                  ac.mask_kind == 1 ? " additive-mask" : ac.mask_kind == 2 ? " bool-mask" : "",
                  ac.q_blhe ? " q(B,L,H,E)" : "");
    report(std::string("attention_forward o    ") + name, go, ro, 1e-5);
    report(std::string("attention_forward lse  ") + name, glse, rlse, 1e-6);
    report(std::string("attention_backward dq  ") + name, gdq, rdq, 1e-5);
    report(std::string("attention_backward dk  ") + name, gdk, rdk, 1e-5);
    report(std::string("attention_backward dv  ") + name, gdv, rdv, 1e-5);
}

}  // namespace

int main(int argc, char** argv) {
    // "quick" (the TSan run, where every emulated CUDA thread is expensive): one small case per
    // kernel and barrier pattern; otherwise everything.
    const bool quick = argc > 1 && std::string(argv[1]) == "quick";
    std::mt19937 rng(4321);
    const int SM1 = 1, SM_MANY = 1000;
    std::vector<ConvCase> conv;
    // n, c_in, h, w, c_out, kh, kw, sh, sw, ph, pw, dh, dw, groups, bias, sms
    const ConvCase strided_grouped = {3, 6, 9, 7, 4, 3, 2, 2, 1, 1, 0, 2, 1, 2, true, SM_MANY};
    const ConvCase small_split_k = {4, 4, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, SM_MANY};  // 2 k-splits
    const ConvCase big_tiles_1x1 = {1, 128, 3, 3, 128, 1, 1, 1, 1, 0, 0, 1, 1, 1, true, SM1};  // 128 x 128 tiles
    if (quick) {
        conv = {strided_grouped, small_split_k, big_tiles_1x1};
    } else {
        conv = {
            {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, false, SM1},
            {2, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, SM1},
            strided_grouped,                                              // stride, dilation, groups
            {1, 4, 11, 10, 6, 5, 3, 3, 2, 2, 1, 1, 2, 2, false, SM1},
            {2, 4, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, true, SM1},        // depthwise
            {1, 70, 6, 5, 67, 1, 1, 1, 1, 0, 0, 1, 1, 1, true, SM1},      // 1x1, channels over one 64 tile
            small_split_k,
            {3, 16, 12, 12, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, SM_MANY},  // 3 k-splits, 7 n tiles
            {5, 9, 8, 8, 66, 3, 3, 2, 2, 1, 1, 1, 1, 3, true, SM_MANY},   // 2 m tiles per group
            {2, 2, 13, 17, 3, 4, 4, 3, 3, 2, 3, 1, 1, 1, false, SM1},     // taps past the image
            big_tiles_1x1,
            {2, 130, 5, 6, 131, 1, 3, 1, 1, 0, 1, 1, 1, 1, true, SM1},    // 128 x 128 tiles with edges
            {1, 256, 4, 3, 258, 1, 1, 2, 1, 0, 0, 1, 1, 2, false, SM1},   // 128 x 128 tiles, groups
        };
    }
    for (const auto& c : conv) check_conv(c, rng);

    std::vector<PoolCase> pool = {
        // planes, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ceil, include_pad, divisor
        {2, 7, 9, 3, 3, 2, 2, 1, 1, 1, 1, true, true, 0},
    };
    if (!quick) {
        pool.push_back({3, 7, 9, 2, 2, 2, 2, 0, 0, 1, 1, false, true, 0});
        pool.push_back({2, 8, 5, 3, 2, 2, 1, 1, 1, 1, 1, true, false, 0});
        pool.push_back({2, 9, 9, 3, 3, 2, 2, 1, 1, 2, 2, false, false, 0});  // dilated (max only)
        pool.push_back({1, 5, 6, 3, 3, 1, 2, 1, 0, 1, 1, false, false, 5});
    }
    for (const auto& p : pool) check_pool(p, rng);

    std::vector<AttnCase> attn;
    // b, h, l, s, e, causal, mask_kind, q_blhe
    if (quick) {
        attn = {
            {1, 1, 37, 45, 20, true, 1, true},     // D = 32: 2 key tiles, causal + additive mask
            {1, 1, 19, 50, 100, false, 2, false},  // D = 128: boolean mask, a fully masked query
        };
    } else {
        attn = {
            {2, 2, 37, 45, 20, false, 0, true},    // D = 32: 2 key tiles
            {1, 2, 70, 33, 40, true, 1, false},    // D = 64: 2 query tiles, causal + additive mask with -inf
            {2, 1, 19, 50, 100, false, 2, true},   // D = 128: boolean mask, a fully masked query
            {1, 3, 33, 33, 128, true, 0, true},
            {2, 1, 45, 21, 64, true, 2, false},    // causal with L > S
            {1, 1, 1, 1, 7, false, 0, false},
            {1, 2, 66, 70, 33, false, 1, false},
        };
    }
    for (const auto& c : attn) check_attention(c, rng);

    std::printf("%d launches emulated\n", static_cast<int>(tf_emu::launches));
    if (failures) {
        std::printf("%d FAILED\n", failures);
        return 1;
    }
    std::printf("ALL PASSED\n");
    return 0;
}
