// CPU emulation check of softmax.cu and cross_entropy.cu against float64 references (no GPU
// needed; warp shuffles and __syncthreads are emulated by the stand-in cuda_runtime.h).
//
// tests/test_cuda_emulated_softmax_ce.py compiles this with g++ under ASan + UBSan and under TSan
// and runs it. The cases cover both launch shapes (a warp per row up to 1024 columns, a 512-thread
// block per row above), odd column counts (1, 7, 33, 1000, 1025, 50257), row counts that leave the
// last block's warps idle, -inf / +inf / large logits, ignore_index rows, every row ignored, class
// weights, label smoothing, per-row and broadcast gradients and out-of-range targets. Outputs are
// poisoned before each call (NaN, or 1e30 where NaN is the expected answer). This checks indexing,
// bounds, reductions and barriers; it says nothing about what nvcc makes of the kernels or their speed.
//
// Usage: emu_softmax_ce [quick]   -> one line per case, "ALL PASSED" last, exit 0 on success.
#define TF_CUDA_EMULATE 1

#include "cuda_runtime.h"

#include "../cross_entropy.cu"
#include "../softmax.cu"

#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace tf::cuda {
// What device.cu provides on a real build.
void require_device() {}
}  // namespace tf::cuda

namespace {

int failures = 0;
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A heap buffer of exactly n elements, so accesses past the end are ASan errors.
template <class T>
struct Buf {
    std::vector<T> v;
    T* p;
    explicit Buf(size_t n) : v(n == 0 ? 1 : n), p(v.data()) {}
    uintptr_t u() const { return reinterpret_cast<uintptr_t>(p); }
};

void fill(Buf<float>& b, size_t n, float value) { std::fill(b.p, b.p + n, value); }

// Norm-wise relative error over the finite reference entries; a non-finite reference entry must be
// matched exactly (NaN by NaN, inf by the same inf), and a non-finite result where the reference is
// finite (a poisoned, unwritten element) fails.
double compare(const float* got, const std::vector<double>& ref, bool* mismatch) {
    double e2 = 0, r2 = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        const double g = got[i], r = ref[i];
        if (std::isnan(r)) {
            if (!std::isnan(g)) *mismatch = true;
        } else if (std::isinf(r)) {
            if (g != r) *mismatch = true;
        } else if (!std::isfinite(g) || std::abs(g) > 1e29) {
            *mismatch = true;
        } else {
            e2 += (g - r) * (g - r);
            r2 += r * r;
        }
    }
    return std::sqrt(e2) / std::max(std::sqrt(r2), 1e-30);
}

double compare_d(const std::vector<double>& got, const std::vector<double>& ref, bool* mismatch) {
    std::vector<float> f(got.begin(), got.end());
    return compare(f.data(), ref, mismatch);
}

// Row kinds: normal draws, plus the special rows the kernels must get right.
enum class Row { normal, large, some_neg_inf, all_neg_inf, pos_inf };

const char* row_name(Row k) {
    switch (k) {
        case Row::normal: return "normal";
        case Row::large: return "large(+1e4)";
        case Row::some_neg_inf: return "some -inf";
        case Row::all_neg_inf: return "all -inf";
        default: return "+inf";
    }
}

void fill_row(float* x, int64_t cols, Row kind, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.f, 3.f);
    for (int64_t j = 0; j < cols; ++j) x[j] = nd(rng);
    if (kind == Row::large)
        for (int64_t j = 0; j < cols; ++j) x[j] += 1e4f;
    if (kind == Row::some_neg_inf)
        for (int64_t j = 1; j < cols; j += 3) x[j] = -kInf;  // column 0 stays finite
    if (kind == Row::all_neg_inf)
        for (int64_t j = 0; j < cols; ++j) x[j] = -kInf;
    if (kind == Row::pos_inf) x[cols / 2] = kInf;
}

bool is_special(Row k) { return k == Row::all_neg_inf || k == Row::pos_inf; }

// ---- softmax / log-softmax ----------------------------------------------------------------------

void check_softmax(int64_t rows, int64_t cols, bool log, const std::vector<Row>& kinds, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.f, 1.f);
    const size_t n = rows * cols;
    Buf<float> X(n), Y(n), DY(n), DX(n);
    std::vector<Row> row_kind(rows);
    bool specials = false;
    for (int64_t r = 0; r < rows; ++r) {
        row_kind[r] = kinds[r % kinds.size()];
        specials |= is_special(row_kind[r]);
        fill_row(X.p + r * cols, cols, row_kind[r], rng);
    }
    for (size_t i = 0; i < n; ++i) DY.p[i] = nd(rng);
    const float poison = specials ? 1e30f : std::numeric_limits<float>::quiet_NaN();
    fill(Y, n, poison);
    fill(DX, n, poison);
    tf::cuda::softmax_forward(rows, cols, log, X.u(), Y.u(), 0);
    // The backward from the kernel's own y (as autograd calls it), referenced in float64 from that y.
    tf::cuda::softmax_backward(rows, cols, log, Y.u(), DY.u(), DX.u(), 0);

    std::vector<double> y(n), dx(n);
    for (int64_t r = 0; r < rows; ++r) {
        const float* x = X.p + r * cols;
        double m = -INFINITY;
        for (int64_t j = 0; j < cols; ++j) m = std::max(m, double(x[j]));
        double s = 0;
        for (int64_t j = 0; j < cols; ++j) s += std::exp(double(x[j]) - m);
        const bool nan_row = row_kind[r] == Row::all_neg_inf || row_kind[r] == Row::pos_inf;
        double dot = 0;
        for (int64_t j = 0; j < cols; ++j) {
            const double yk = Y.p[r * cols + j];  // the kernel's output, for the backward reference
            dot += log ? DY.p[r * cols + j] : DY.p[r * cols + j] * yk;
        }
        for (int64_t j = 0; j < cols; ++j) {
            const size_t i = r * cols + j;
            y[i] = nan_row ? kNaN : log ? (double(x[j]) - m) - std::log(s) : std::exp(double(x[j]) - m) / s;
            const double yk = Y.p[i];
            dx[i] = nan_row ? kNaN : log ? DY.p[i] - std::exp(yk) * dot : yk * (DY.p[i] - dot);
        }
    }
    bool mismatch = false;
    const double ey = compare(Y.p, y, &mismatch), edx = compare(DX.p, dx, &mismatch);
    const bool ok = !mismatch && ey < 1e-6 && edx < 1e-6;
    std::string kinds_str;
    for (Row k : kinds) kinds_str += std::string(kinds_str.empty() ? "" : ",") + row_name(k);
    std::printf("%s %s rows=%" PRId64 " cols=%" PRId64 " rows:[%s] rel_err y %.1e dx %.1e%s\n", ok ? "ok  " : "FAIL",
                log ? "log_softmax" : "softmax", rows, cols, kinds_str.c_str(), ey, edx,
                mismatch ? " NON-FINITE MISMATCH" : "");
    if (!ok) ++failures;
}

// ---- cross-entropy ----------------------------------------------------------------------------

struct CeCase {
    int64_t rows, classes;
    bool weighted;
    float smoothing;
    int64_t ignore_index;
    int ignore_every;               // every k-th row targets ignore_index (0: none; 1: all)
    std::vector<Row> kinds;         // logit rows, cycled
    std::vector<int64_t> bad_rows;  // rows given an out-of-range target (alternately C and -5)
};

void check_cross_entropy(const CeCase& c, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.f, 1.f);
    std::uniform_real_distribution<float> ud(0.2f, 2.f);
    const int64_t R = c.rows, C = c.classes;
    const size_t n = R * C;
    Buf<float> X(n), W(C), Loss(R), Stats(2 * R), RowW(R), G(R), DX(n), DX0(n);
    Buf<int64_t> T(R);
    Buf<unsigned long long> Bad(1);
    std::vector<Row> row_kind(R);
    for (int64_t r = 0; r < R; ++r) {
        row_kind[r] = c.kinds[r % c.kinds.size()];
        fill_row(X.p + r * C, C, row_kind[r], rng);
        T.p[r] = std::uniform_int_distribution<int64_t>(0, C - 1)(rng);
        if (row_kind[r] == Row::some_neg_inf) T.p[r] = 0;  // a finite target logit
        if (c.ignore_every && r % c.ignore_every == 0) T.p[r] = c.ignore_index;
        G.p[r] = nd(rng);
    }
    for (size_t k = 0; k < c.bad_rows.size(); ++k) T.p[c.bad_rows[k]] = k % 2 ? -5 : C;
    for (int64_t j = 0; j < C; ++j) W.p[j] = ud(rng);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const bool specials = !c.bad_rows.empty() ||
                          std::any_of(c.kinds.begin(), c.kinds.end(), [](Row k) { return is_special(k); });
    const float poison = specials ? 1e30f : nan;
    for (Buf<float>* b : {&Loss, &RowW}) fill(*b, R, poison);
    fill(Stats, 2 * R, poison);
    fill(DX, n, poison);
    fill(DX0, n, poison);
    Bad.p[0] = 12345;  // the launcher must reset it

    tf::cuda::CrossEntropyArgs a;
    a.rows = R;
    a.classes = C;
    a.ignore_index = c.ignore_index;
    a.label_smoothing = c.smoothing;
    const uintptr_t w = c.weighted ? W.u() : 0;
    tf::cuda::cross_entropy_forward(a, X.u(), T.u(), w, Loss.u(), Stats.u(), RowW.u(), Bad.u(), 0);
    tf::cuda::cross_entropy_backward(a, X.u(), T.u(), w, Stats.u(), G.u(), 1, DX.u(), 0);
    const float g0 = 0.37f;  // one broadcast value: 'sum' / 'mean'
    tf::cuda::cross_entropy_backward(a, X.u(), T.u(), w, Stats.u(), reinterpret_cast<uintptr_t>(&g0), 0, DX0.u(), 0);

    std::vector<double> loss(R), lse(R), roww(R), dx(n), dx0(n), got_lse(R);
    for (int64_t r = 0; r < R; ++r) got_lse[r] = double(Stats.p[2 * r]) + Stats.p[2 * r + 1];
    const double e = c.smoothing;
    double wsum = 0;
    for (int64_t j = 0; j < C; ++j) wsum += c.weighted ? W.p[j] : 1.0;
    for (int64_t r = 0; r < R; ++r) {
        const float* x = X.p + r * C;
        const int64_t t = T.p[r];
        const bool ignored = t == c.ignore_index, bad = !ignored && (t < 0 || t >= C);
        if (ignored || bad) {
            loss[r] = lse[r] = ignored ? 0.0 : kNaN;
            roww[r] = 0;
            for (int64_t j = 0; j < C; ++j) dx[r * C + j] = dx0[r * C + j] = ignored ? 0.0 : kNaN;
            continue;
        }
        double m = -INFINITY;
        for (int64_t j = 0; j < C; ++j) m = std::max(m, double(x[j]));
        double s = 0;
        for (int64_t j = 0; j < C; ++j) s += std::exp(double(x[j]) - m);
        // log-sum-exp: NaN with a +inf logit, -inf when every logit is -inf (then the loss is NaN)
        const double l = m == INFINITY ? kNaN : m == -INFINITY ? m : m + std::log(s);
        const double wt = c.weighted ? W.p[t] : 1.0;
        double smooth = 0;
        for (int64_t j = 0; j < C; ++j) smooth += (c.weighted ? W.p[j] : 1.0) * (l - x[j]);
        loss[r] = (1 - e) * wt * (l - x[t]) + (e > 0 ? e / C * smooth : 0.0);
        lse[r] = l;
        roww[r] = wt;
        const double coef_sum = (1 - e) * wt + e / C * wsum;
        for (int64_t j = 0; j < C; ++j) {
            const double coef = e / C * (c.weighted ? W.p[j] : 1.0) + (j == t ? (1 - e) * wt : 0.0);
            const double d = std::exp(double(x[j]) - l) * coef_sum - coef;
            dx[r * C + j] = G.p[r] * d;
            dx0[r * C + j] = g0 * d;
        }
    }
    int64_t want_bad = -1;
    for (int64_t r : c.bad_rows) want_bad = want_bad < 0 ? r : std::min(want_bad, r);
    const unsigned long long want_flag = want_bad < 0 ? ~0ull : static_cast<unsigned long long>(want_bad);
    bool mismatch = false;
    const double el = compare(Loss.p, loss, &mismatch), else_ = compare_d(got_lse, lse, &mismatch);
    const double ew = compare(RowW.p, roww, &mismatch), edx = compare(DX.p, dx, &mismatch);
    const double edx0 = compare(DX0.p, dx0, &mismatch);
    const bool flag_ok = Bad.p[0] == want_flag;
    const double worst = std::max({el, else_, ew, edx, edx0});
    const bool ok = !mismatch && flag_ok && worst < 1e-6;
    std::string kinds_str;
    for (Row k : c.kinds) kinds_str += std::string(kinds_str.empty() ? "" : ",") + row_name(k);
    std::printf("%s cross_entropy rows=%" PRId64 " C=%" PRId64 " weighted=%d smoothing=%g ignore_every=%d bad=%zu "
                "rows:[%s] rel_err loss %.1e lse %.1e row_w %.1e dx %.1e dx(bcast) %.1e%s%s\n",
                ok ? "ok  " : "FAIL", R, C, c.weighted, c.smoothing, c.ignore_every, c.bad_rows.size(),
                kinds_str.c_str(), el, else_, ew, edx, edx0, mismatch ? " NON-FINITE MISMATCH" : "",
                flag_ok ? "" : " BAD-ROW FLAG WRONG");
    if (!ok) ++failures;
}

}  // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::string(argv[1]) == "quick";
    std::mt19937 rng(4321);
    const std::vector<Row> normal = {Row::normal};
    const std::vector<Row> mixed = {Row::normal, Row::large, Row::some_neg_inf, Row::all_neg_inf, Row::pos_inf};
    for (bool log : {false, true}) {
        check_softmax(1, 1, log, normal, rng);
        check_softmax(13, 7, log, mixed, rng);      // 2 blocks of 8 warps, 25 idle lanes per row
        check_softmax(9, 33, log, normal, rng);
        check_softmax(5, 1000, log, mixed, rng);    // the longest warp rows
        check_softmax(3, 1025, log, mixed, rng);    // the shortest block rows
        if (!quick) check_softmax(2, 50257, log, {Row::normal, Row::large}, rng);
    }
    const std::vector<CeCase> ce = {
        {1, 1, false, 0.f, -100, 0, normal, {}},
        {13, 7, true, 0.1f, -100, 3, mixed, {}},
        {9, 33, false, 0.f, 3, 4, {Row::normal, Row::large, Row::some_neg_inf}, {}},
        {11, 33, true, 0.f, -100, 0, normal, {4, 7}},          // out-of-range targets: C and -5
        {6, 40, true, 0.2f, -100, 1, normal, {}},              // every row ignored
        {5, 1000, true, 0.f, -100, 2, {Row::normal, Row::large}, {}},
        {4, 1025, false, 0.3f, -1, 3, mixed, {2}},             // block rows, smoothing, a bad row
        {3, 2000, true, 1.0f, -100, 0, {Row::normal, Row::some_neg_inf, Row::large}, {}},
    };
    for (const auto& c : ce) check_cross_entropy(c, rng);
    if (!quick) {
        check_cross_entropy({2, 50257, true, 0.1f, -100, 0, {Row::normal, Row::large}, {}}, rng);
        check_cross_entropy({2, 50257, false, 0.f, -100, 0, normal, {}}, rng);
    }
    std::printf("%d launches emulated\n", static_cast<int>(tf_emu::launches));
    if (failures) {
        std::printf("%d FAILED\n", failures);
        return 1;
    }
    std::printf("ALL PASSED\n");
    return 0;
}
