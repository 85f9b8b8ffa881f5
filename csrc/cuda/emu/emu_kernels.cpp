// CPU emulation check of the CUDA kernels in gemm_f32.cu, gemm_tensor_core.cu, adamw.cu,
// layer_norm.cu and gelu.cu (no GPU needed; mma.sync and warp shuffles are emulated per warp by
// the stand-in cuda_runtime.h).
//
// tests/test_cuda_emulated.py compiles this with g++ (-fsanitize=address,undefined, and again with
// -fsanitize=thread), with this folder first on the include path so that <cuda_runtime.h> is the
// stand-in cuda_runtime.h here, and runs it. It includes the .cu files themselves, so the code
// checked is the kernel and launcher code that nvcc compiles, run through tf::cuda::gemm,
// tf::cuda::gemm_tensor_core and tf::cuda::adam_step with every CUDA thread as a std::thread. It compares with float64 references
// and poisons outputs with NaN. It checks indexing, bounds, edge handling, the grid split (with the
// grid limit shrunk to TF_EMU_MAX_GRID_YZ) and barrier placement; it says nothing about the speed
// of the kernels or about what nvcc makes of them.
//
// Usage: emu_kernels [quick]   -> prints one line per case, "ALL PASSED" last, exit 0 on success.
#define TF_CUDA_EMULATE 1
#define TF_EMU_MAX_GRID_YZ 2

#include "cuda_runtime.h"

#include "../adamw.cu"
#include "../gemm_f32.cu"
#include "../gemm_tensor_core.cu"
#include "../gelu.cu"
#include "../layer_norm.cu"

#include <algorithm>
#include <cinttypes>
#include <memory>
#include <cstring>
#include <limits>
#include <random>
#include <string>

namespace tf::cuda {
// What device.cu provides on a real build.
int g_emu_sms = 1;
void require_device() {}
int current_device() { return 0; }
int multiprocessor_count(int) { return g_emu_sms; }
int compute_capability(int) { return 90; }
}  // namespace tf::cuda

namespace {

int failures = 0;

// A heap buffer of exactly `n` floats after `offset` floats of slack, so reads and writes past
// the end are ASan errors; `offset` = 1 misaligns the start (the kernels' scalar paths).
struct Buf {
    float* base = nullptr;
    float* p = nullptr;
    Buf(size_t n, size_t offset) {
        base = new float[n + offset + (n + offset == 0 ? 1 : 0)];
        p = base + offset;
    }
    ~Buf() { delete[] base; }
    Buf(const Buf&) = delete;
    Buf& operator=(const Buf&) = delete;
};

struct GemmCase {
    int64_t m, n, k;
    bool ta, tb;
    int64_t pad_a, pad_b, pad_c;  // leading dimension minus stored width
    size_t offset;                // misalignment in elements
    int64_t batch;
    bool broadcast_b;             // batch stride 0 for B
    float alpha, beta;
    int sms;                      // 1: 128 x 128 tiles; huge: 64 x 64 tiles
};

enum class Precision { fp32, tf32, bf16 };

// The input rounding of the tensor-core paths, by arithmetic rather than bit tricks: tf32 keeps 11
// significant bits (round to nearest, ties away from zero), bfloat16 keeps 8 (ties to even).
double round_input(float x, Precision p) {
    if (p == Precision::fp32 || x == 0.f || !std::isfinite(x)) return x;
    int e = 0;
    const double m = std::frexp(static_cast<double>(x), &e);  // |m| in [0.5, 1)
    const int bits = p == Precision::tf32 ? 11 : 8;
    const double scaled = std::ldexp(m, bits);
    const double r = p == Precision::tf32 ? std::round(scaled) : std::nearbyint(scaled);
    return std::ldexp(r, e - bits);
}

const char* precision_name(Precision p) { return p == Precision::fp32 ? "fp32" : p == Precision::tf32 ? "tf32" : "bf16"; }

void check_gemm(const GemmCase& c, std::mt19937& rng, Precision precision = Precision::fp32) {
    std::normal_distribution<float> nd(0.f, 1.f);
    // Stored shapes (row-major): A is m x k or k x m (ta); B is k x n or n x k (tb).
    const int64_t a_rows = c.ta ? c.k : c.m, a_cols = c.ta ? c.m : c.k;
    const int64_t b_rows = c.tb ? c.n : c.k, b_cols = c.tb ? c.k : c.n;
    tf::GemmShape s;
    s.m = c.m;
    s.n = c.n;
    s.k = c.k;
    s.trans_a = c.ta;
    s.trans_b = c.tb;
    s.lda = std::max<int64_t>(a_cols, 1) + c.pad_a;
    s.ldb = std::max<int64_t>(b_cols, 1) + c.pad_b;
    s.ldc = std::max<int64_t>(c.n, 1) + c.pad_c;
    tf::GemmBatch bt;
    bt.count = c.batch;
    // Exact sizes: the last row of each matrix ends at its width, not at its leading dimension.
    auto span = [](int64_t rows, int64_t cols, int64_t ld) { return rows == 0 ? 0 : (rows - 1) * ld + cols; };
    const int64_t sa = span(a_rows, a_cols, s.lda), sb = span(b_rows, b_cols, s.ldb), sc = span(c.m, c.n, s.ldc);
    bt.stride_a = sa;
    bt.stride_b = c.broadcast_b ? 0 : sb;
    bt.stride_c = sc;
    const int64_t nb_b = c.broadcast_b ? 1 : c.batch;
    Buf A(sa * c.batch, c.offset), B(sb * nb_b, c.offset), C(sc * c.batch, c.offset);
    for (int64_t i = 0; i < sa * c.batch; ++i) A.p[i] = nd(rng);
    for (int64_t i = 0; i < sb * nb_b; ++i) B.p[i] = nd(rng);
    std::vector<float> c0(sc * c.batch);
    for (auto& x : c0) x = c.beta == 0.f ? std::numeric_limits<float>::quiet_NaN() : nd(rng);
    std::memcpy(C.p, c0.data(), c0.size() * sizeof(float));

    tf::cuda::g_emu_sms = c.sms;
    const auto pa = reinterpret_cast<uintptr_t>(A.p), pb = reinterpret_cast<uintptr_t>(B.p);
    const auto pc = reinterpret_cast<uintptr_t>(C.p);
    if (precision == Precision::fp32) tf::cuda::gemm(s, c.alpha, pa, pb, c.beta, pc, bt, 0);
    else
        tf::cuda::gemm_tensor_core(s, c.alpha, pa, pb, c.beta, pc, bt,
                                   precision == Precision::tf32 ? tf::cuda::MatmulPrecision::tf32
                                                                : tf::cuda::MatmulPrecision::bf16,
                                   0);

    double err2 = 0, ref2 = 0;
    bool bad_gap = false, unwritten = false;
    for (int64_t z = 0; z < c.batch; ++z) {
        const float* a = A.p + z * bt.stride_a;
        const float* b = B.p + z * bt.stride_b;
        for (int64_t i = 0; i < c.m; ++i)
            for (int64_t j = 0; j < s.ldc; ++j) {
                const int64_t idx = z * sc + i * s.ldc + j;
                if (idx >= sc * c.batch) break;
                const float got = C.p[idx];
                if (j >= c.n) {  // padding between rows: must be untouched (the last row has none)
                    if (i == c.m - 1) break;
                    const float old = c0[idx];
                    if (!(got == old || (std::isnan(got) && std::isnan(old)))) bad_gap = true;
                    continue;
                }
                double acc = 0;
                for (int64_t p = 0; p < c.k; ++p) {
                    const double av = round_input(c.ta ? a[p * s.lda + i] : a[i * s.lda + p], precision);
                    const double bv = round_input(c.tb ? b[j * s.ldb + p] : b[p * s.ldb + j], precision);
                    acc += av * bv;
                }
                double ref = c.alpha * acc + (c.beta == 0.f ? 0.0 : double(c.beta) * c0[idx]);
                if (!std::isfinite(got)) unwritten = true;
                err2 += (got - ref) * (got - ref);
                ref2 += ref * ref;
            }
    }
    const double rel = std::sqrt(err2) / std::max(std::sqrt(ref2), 1e-300);
    const bool ok = !unwritten && !bad_gap && rel < 1e-5;
    std::printf("%s gemm %s m=%" PRId64 " n=%" PRId64 " k=%" PRId64 " ta=%d tb=%d pads=%" PRId64 ",%" PRId64 ",%" PRId64
                " off=%zu batch=%" PRId64 "%s alpha=%g beta=%g tiles=%s rel_err=%.2e%s%s\n",
                ok ? "ok  " : "FAIL", precision_name(precision), c.m, c.n, c.k, c.ta, c.tb, c.pad_a, c.pad_b, c.pad_c, c.offset, c.batch,
                c.broadcast_b ? "(b broadcast)" : "", c.alpha, c.beta, c.sms == 1 ? "128" : "64", rel,
                unwritten ? " UNWRITTEN/NaN" : "", bad_gap ? " WROTE-PADDING" : "");
    if (!ok) ++failures;
}

void adam_ref(double& p, double g, double& m, double& v, const tf::cuda::AdamArgs& a) {
    if (a.decoupled_weight_decay) p *= 1 - a.lr * a.weight_decay;
    else if (a.weight_decay != 0) g += a.weight_decay * p;
    m = a.beta1 * m + (1 - a.beta1) * g;
    v = a.beta2 * v + (1 - a.beta2) * g * g;
    p -= (a.lr / a.bias_correction1) * m / (std::sqrt(v) / std::sqrt(a.bias_correction2) + a.eps);
}

void check_adam(bool adamw, double wd, int sms, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.f, 1.f);
    const std::vector<int64_t> sizes = {1, 5, 4096, 4097, 0, 9000, 3, 8195};
    const std::vector<size_t> offsets = {0, 0, 0, 1, 0, 0, 1, 0};
    const size_t T = sizes.size();
    std::vector<std::unique_ptr<Buf>> P, G, M, V;
    std::vector<std::vector<double>> rp(T), rm(T), rv(T);
    std::vector<int64_t> table(5 * T);
    int64_t total = 0;
    for (size_t t = 0; t < T; ++t) {
        const int64_t n = sizes[t];
        P.emplace_back(new Buf(n, offsets[t]));
        G.emplace_back(new Buf(n, offsets[t]));
        M.emplace_back(new Buf(n, 0));
        V.emplace_back(new Buf(n, 0));
        for (int64_t i = 0; i < n; ++i) {
            P[t]->p[i] = nd(rng);
            M[t]->p[i] = 0.f;
            V[t]->p[i] = 0.f;
            rp[t].push_back(P[t]->p[i]);
        }
        rm[t].assign(n, 0.0);
        rv[t].assign(n, 0.0);
        table[t] = reinterpret_cast<int64_t>(P[t]->p);
        table[T + t] = reinterpret_cast<int64_t>(G[t]->p);
        table[2 * T + t] = reinterpret_cast<int64_t>(M[t]->p);
        table[3 * T + t] = reinterpret_cast<int64_t>(V[t]->p);
        table[4 * T + t] = n;
        total += n;
    }
    tf::cuda::g_emu_sms = sms;
    tf::cuda::AdamArgs a;
    a.lr = 3e-3;
    a.beta1 = 0.9;
    a.beta2 = 0.99;
    a.eps = 1e-8;
    a.weight_decay = wd;
    a.decoupled_weight_decay = adamw;
    for (int step = 1; step <= 3; ++step) {
        for (size_t t = 0; t < T; ++t)
            for (int64_t i = 0; i < sizes[t]; ++i) G[t]->p[i] = nd(rng);
        a.bias_correction1 = 1 - std::pow(a.beta1, step);
        a.bias_correction2 = 1 - std::pow(a.beta2, step);
        tf::cuda::adam_step(a, reinterpret_cast<uintptr_t>(table.data()), static_cast<int64_t>(T), total, 0);
        for (size_t t = 0; t < T; ++t)
            for (int64_t i = 0; i < sizes[t]; ++i) adam_ref(rp[t][i], G[t]->p[i], rm[t][i], rv[t][i], a);
    }
    // Errors relative to each quantity's scale: float32 state against a float64 reference.
    double wp = 0, wm = 0, wv = 0;
    for (size_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < sizes[t]; ++i) {
            wp = std::max(wp, std::abs(P[t]->p[i] - rp[t][i]) / (std::abs(rp[t][i]) + 1e-2));
            wm = std::max(wm, std::abs(M[t]->p[i] - rm[t][i]) / (std::abs(rm[t][i]) + 1e-2));
            wv = std::max(wv, std::abs(V[t]->p[i] - rv[t][i]) / (std::abs(rv[t][i]) + 1e-4));
            if (!std::isfinite(P[t]->p[i])) wp = 1e30;
        }
    const double worst = std::max(wp, std::max(wm, wv));
    std::printf("     (worst relative error: param %.2e, exp_avg %.2e, exp_avg_sq %.2e)\n", wp, wm, wv);
    const bool ok = worst < 1e-5;
    std::printf("%s adam %s wd=%g sms=%d tensors=%zu elements=%" PRId64 " worst_rel=%.2e\n", ok ? "ok  " : "FAIL",
                adamw ? "AdamW" : "Adam", wd, sms, T, total, worst);
    if (!ok) ++failures;
}

double rel_error(const float* got, const std::vector<double>& ref) {
    double e2 = 0, r2 = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        if (!std::isfinite(got[i])) return 1e30;  // NaN poison left: an element was not written
        e2 += (got[i] - ref[i]) * (got[i] - ref[i]);
        r2 += ref[i] * ref[i];
    }
    return std::sqrt(e2) / std::max(std::sqrt(r2), 1e-300);
}

void poison(float* p, size_t n) {
    for (size_t i = 0; i < n; ++i) p[i] = std::numeric_limits<float>::quiet_NaN();
}

// LayerNorm forward and backward against float64, with and without gamma / beta, rows that do not
// fill the last block of 8 warps, columns that do not fill a warp or a 32-column block.
void check_layer_norm(int64_t rows, int64_t cols, bool affine, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.f, 1.f);
    const size_t n = rows * cols;
    Buf X(n, 0), G(cols, 0), Bt(cols, 0), Y(n, 0), M(rows, 0), R(rows, 0), DY(n, 0), DX(n, 0), DG(cols, 0), DB(cols, 0);
    for (size_t i = 0; i < n; ++i) X.p[i] = 3.f + 2.f * nd(rng);  // an offset mean: tests the two-pass variance
    for (int64_t j = 0; j < cols; ++j) G.p[j] = 1.f + 0.5f * nd(rng), Bt.p[j] = nd(rng);
    for (size_t i = 0; i < n; ++i) DY.p[i] = nd(rng);
    for (float* p : {Y.p, DX.p}) poison(p, n);
    for (float* p : {M.p, R.p}) poison(p, rows);
    for (float* p : {DG.p, DB.p}) poison(p, cols);
    const float eps = 1e-5f;
    auto u = [](const Buf& b) { return reinterpret_cast<uintptr_t>(b.p); };
    tf::cuda::layer_norm_forward(rows, cols, eps, u(X), affine ? u(G) : 0, affine ? u(Bt) : 0, u(Y), u(M), u(R), 0);
    tf::cuda::layer_norm_backward(rows, cols, u(X), affine ? u(G) : 0, u(M), u(R), u(DY), u(DX), u(DG), u(DB), 0);

    std::vector<double> y(n), dx(n), dg(cols, 0.0), db(cols, 0.0), mean(rows), rstd(rows);
    for (int64_t r = 0; r < rows; ++r) {
        const float* x = X.p + r * cols;
        double mu = 0, var = 0;
        for (int64_t j = 0; j < cols; ++j) mu += x[j];
        mu /= cols;
        for (int64_t j = 0; j < cols; ++j) var += (x[j] - mu) * (x[j] - mu);
        const double rs = 1.0 / std::sqrt(var / cols + eps);
        mean[r] = mu;
        rstd[r] = rs;
        double sg = 0, sgx = 0;
        for (int64_t j = 0; j < cols; ++j) {
            const double xh = (x[j] - mu) * rs, gm = affine ? G.p[j] : 1.0, d = DY.p[r * cols + j];
            y[r * cols + j] = xh * gm + (affine ? Bt.p[j] : 0.0);
            sg += d * gm;
            sgx += d * gm * xh;
            dg[j] += d * xh;
            db[j] += d;
        }
        for (int64_t j = 0; j < cols; ++j) {
            const double xh = (x[j] - mu) * rs, gm = affine ? G.p[j] : 1.0;
            dx[r * cols + j] = rs * (DY.p[r * cols + j] * gm - sg / cols - xh * sgx / cols);
        }
    }
    const double e[] = {rel_error(Y.p, y), rel_error(M.p, mean), rel_error(R.p, rstd), rel_error(DX.p, dx),
                        rel_error(DG.p, dg), rel_error(DB.p, db)};
    const double worst = *std::max_element(std::begin(e), std::end(e));
    const bool ok = worst < 2e-5;
    std::printf("%s layer_norm rows=%" PRId64 " cols=%" PRId64 " affine=%d rel_err y %.1e mean %.1e rstd %.1e dx %.1e "
                "dgamma %.1e dbeta %.1e\n",
                ok ? "ok  " : "FAIL", rows, cols, affine, e[0], e[1], e[2], e[3], e[4], e[5]);
    if (!ok) ++failures;
}

void check_gelu(int64_t n, bool tanh_approx, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.f, 3.f);
    Buf X(n, 0), Y(n, 0), DY(n, 0), DX(n, 0);
    for (int64_t i = 0; i < n; ++i) X.p[i] = nd(rng), DY.p[i] = nd(rng);
    poison(Y.p, n);
    poison(DX.p, n);
    auto u = [](const Buf& b) { return reinterpret_cast<uintptr_t>(b.p); };
    tf::cuda::gelu_forward(n, tanh_approx, u(X), u(Y), 0);
    tf::cuda::gelu_backward(n, tanh_approx, u(X), u(DY), u(DX), 0);
    std::vector<double> y(n), dx(n);
    const double k = std::sqrt(2.0 / M_PI);
    for (int64_t i = 0; i < n; ++i) {
        const double x = X.p[i];
        double slope;
        if (tanh_approx) {
            const double t = std::tanh(k * (x + 0.044715 * x * x * x));
            y[i] = 0.5 * x * (1 + t);
            slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
        } else {
            const double cdf = 0.5 * std::erfc(-x / std::sqrt(2.0));
            y[i] = x * cdf;
            slope = cdf + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
        }
        dx[i] = slope * DY.p[i];
    }
    const double ey = rel_error(Y.p, y), edx = rel_error(DX.p, dx);
    const bool ok = ey < 1e-6 && edx < 1e-6;
    std::printf("%s gelu n=%" PRId64 " %s rel_err y %.1e dx %.1e\n", ok ? "ok  " : "FAIL", n,
                tanh_approx ? "tanh" : "erf", ey, edx);
    if (!ok) ++failures;
}

}  // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::string(argv[1]) == "quick";
    std::mt19937 rng(1234);
    const int SMALL = 1 << 30, BIG = 1;
    std::vector<GemmCase> cases;
    const int64_t shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {33, 17, 9}, {4, 70, 13}, {130, 66, 20}, {64, 64, 16}};
    for (auto& sh : shapes)
        for (int t = 0; t < 4; ++t) {
            const bool ta = t & 1, tb = t & 2;
            cases.push_back({sh[0], sh[1], sh[2], ta, tb, 0, 0, 0, 0, 1, false, 1.f, 0.f, SMALL});
            if (!quick) cases.push_back({sh[0], sh[1], sh[2], ta, tb, 3, 1, 2, 1, 1, false, 1.f, 0.f, SMALL});
        }
    // 128 x 128 tiles, edges in both directions, vector and scalar paths
    for (int t = 0; t < 4; ++t) {
        const bool ta = t & 1, tb = t & 2;
        cases.push_back({131, 129, 17, ta, tb, 0, 0, 0, 0, 1, false, 1.f, 0.f, BIG});
        if (!quick) cases.push_back({129, 133, 12, ta, tb, 4, 8, 4, 0, 1, false, 0.5f, 2.f, BIG});
        if (!quick) cases.push_back({70, 200, 9, ta, tb, 1, 0, 0, 1, 1, false, 1.f, 0.f, BIG});
    }
    // alpha / beta, k = 0, batches (incl. broadcast), and the grid split (limit shrunk to 2)
    cases.push_back({33, 65, 17, false, true, 0, 0, 0, 0, 1, false, -0.5f, 1.5f, SMALL});
    cases.push_back({5, 6, 0, false, false, 0, 0, 0, 0, 1, false, 3.f, 0.5f, SMALL});
    cases.push_back({5, 6, 0, true, true, 0, 0, 0, 0, 1, false, 1.f, 0.f, SMALL});
    cases.push_back({9, 11, 13, false, false, 0, 0, 0, 0, 3, false, 0.75f, -0.5f, SMALL});
    cases.push_back({9, 11, 13, true, true, 0, 0, 0, 0, 3, true, 1.f, 0.f, SMALL});
    cases.push_back({5 * 64 + 3, 3, 2, false, false, 0, 0, 0, 0, 5, false, 1.f, 0.f, SMALL});   // 6 row tiles, 5 batches
    cases.push_back({2 * 128 + 1, 5, 4, true, false, 0, 0, 0, 0, 3, false, 1.f, 0.f, BIG});     // 3 row tiles
    for (const auto& c : cases) check_gemm(c, rng);

    // The tensor-core path (tf32 and bf16 products, 128 x 128 tiles, k tiles of 16 / 32): edges in
    // m, n and k, every transpose pair, leading dimensions, misalignment, alpha/beta, k = 0,
    // batches with a broadcast operand and the grid split (limit shrunk to 2: 3 row tiles).
    std::vector<GemmCase> tc_cases;
    for (int t = 0; t < 4; ++t) {
        const bool ta = t & 1, tb = t & 2;
        tc_cases.push_back({131, 129, 37, ta, tb, 0, 0, 0, 0, 1, false, 1.f, 0.f, BIG});
        if (!quick) tc_cases.push_back({7, 5, 3, ta, tb, 3, 1, 2, 1, 1, false, 1.f, 0.f, BIG});
    }
    tc_cases.push_back({33, 65, 70, false, true, 0, 0, 0, 0, 1, false, -0.5f, 1.5f, BIG});
    tc_cases.push_back({5, 6, 0, false, false, 0, 0, 0, 0, 1, false, 3.f, 0.5f, BIG});
    if (!quick) {
        tc_cases.push_back({1, 1, 1, false, false, 0, 0, 0, 0, 1, false, 1.f, 0.f, BIG});
        tc_cases.push_back({9, 11, 13, true, true, 0, 0, 0, 0, 3, true, 0.75f, -0.5f, BIG});
        tc_cases.push_back({2 * 128 + 1, 5, 4, true, false, 0, 0, 0, 0, 3, false, 1.f, 0.f, BIG});
    }
    for (const auto& c : tc_cases) {
        check_gemm(c, rng, Precision::tf32);
        check_gemm(c, rng, Precision::bf16);
    }

    tf::cuda::g_emu_sms = 1;  // GELU: 8 blocks, so the grid-stride loop wraps
    for (bool tanh_approx : {false, true}) {
        check_gelu(1, tanh_approx, rng);
        check_gelu(8 * 256 * 2 + 37, tanh_approx, rng);
    }
    check_layer_norm(1, 1, true, rng);
    check_layer_norm(13, 45, true, rng);     // 2 blocks of 8 warps, last one partly empty
    check_layer_norm(9, 70, false, rng);     // no gamma / beta
    if (!quick) check_layer_norm(300, 33, true, rng);  // 3 row chunks of the parameter gradients

    check_adam(true, 0.1, 1, rng);   // 8 blocks: grid-stride over chunks
    check_adam(false, 0.1, 100, rng);
    if (!quick) {
        check_adam(true, 0.0, 100, rng);
        check_adam(false, 0.0, 1, rng);
    }
    std::printf("%d launches emulated\n", static_cast<int>(tf_emu::launches));
    if (failures) {
        std::printf("%d FAILED\n", failures);
        return 1;
    }
    std::printf("ALL PASSED\n");
    return 0;
}
