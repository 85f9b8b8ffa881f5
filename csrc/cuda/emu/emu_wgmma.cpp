// CPU emulation check of gemm_wgmma.cu (the sm_90a wgmma GEMM): its own source, run through
// tf::cuda::gemm_wgmma with one std::thread per CUDA thread, wgmma / the async proxy / dynamic
// shared memory emulated by wgmma.h from the PTX ISA. Compared with a float64 reference on inputs
// rounded by arithmetic (tf32: 11 significant bits, ties away; bf16: 8, ties to even), outputs
// NaN-poisoned when beta == 0, padding between rows checked untouched; edges in m / n / k, every
// transpose pair, leading dimensions, misaligned pointers, alpha / beta, k = 0, batches with a
// broadcast operand, the grid split (limit shrunk to TF_EMU_MAX_GRID_YZ) and k long enough to wrap
// the three shared-memory stages several times. Any wgmma-emulation error (missing wgmma.fence,
// groups pending at exit, bad descriptor) fails the run.
//
// tests/test_cuda_emulated_wgmma.py builds it under ASan + UBSan and TSan, and again against
// deliberately broken copies of the kernel (TF_WGMMA_KERNEL_SOURCE), which must fail.
//
// Usage: emu_wgmma [quick]   -> one line per case, "ALL PASSED" last, exit 0 on success.
#define TF_CUDA_EMULATE 1
#define TF_EMU_MAX_GRID_YZ 2

#include "cuda_runtime.h"
#include "wgmma.h"

#ifndef TF_WGMMA_KERNEL_SOURCE
#define TF_WGMMA_KERNEL_SOURCE "../gemm_wgmma.cu"
#endif
#include TF_WGMMA_KERNEL_SOURCE

#include <algorithm>
#include <cinttypes>
#include <cmath>
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

struct Case {
    int64_t m, n, k;
    bool ta, tb;
    int64_t pad_a, pad_b, pad_c;  // leading dimension minus stored width
    size_t offset;                // misalignment in elements
    int64_t batch;
    bool broadcast_b;             // batch stride 0 for B
    float alpha, beta;
};

// tf32 keeps 11 significant bits (round to nearest, ties away from zero), bfloat16 8 (ties to even).
double round_input(float x, bool bf16) {
    if (x == 0.f || !std::isfinite(x)) return x;
    int e = 0;
    const double m = std::frexp(static_cast<double>(x), &e);
    const int bits = bf16 ? 8 : 11;
    const double scaled = std::ldexp(m, bits);
    return std::ldexp(bf16 ? std::nearbyint(scaled) : std::round(scaled), e - bits);
}

void check(const Case& c, bool bf16, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.f, 1.f);
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
    auto span = [](int64_t rows, int64_t cols, int64_t ld) { return rows == 0 ? 0 : (rows - 1) * ld + cols; };
    const int64_t sa = span(a_rows, a_cols, s.lda), sb = span(b_rows, b_cols, s.ldb), sc = span(c.m, c.n, s.ldc);
    tf::GemmBatch bt;
    bt.count = c.batch;
    bt.stride_a = sa;
    bt.stride_b = c.broadcast_b ? 0 : sb;
    bt.stride_c = sc;
    const int64_t nb_b = c.broadcast_b ? 1 : c.batch;
    // Exactly sized heap buffers after `offset` floats of slack: reads past the end are ASan errors.
    auto sized = [&](int64_t n) {
        return std::vector<float>(std::max<int64_t>(n + static_cast<int64_t>(c.offset), 1));
    };
    std::vector<float> A = sized(sa * c.batch), B = sized(sb * nb_b), C = sized(sc * c.batch);
    float* pa = A.data() + c.offset;
    float* pb = B.data() + c.offset;
    float* pc = C.data() + c.offset;
    for (int64_t i = 0; i < sa * c.batch; ++i) pa[i] = nd(rng);
    for (int64_t i = 0; i < sb * nb_b; ++i) pb[i] = nd(rng);
    std::vector<float> c0(sc * c.batch);
    for (auto& x : c0) x = c.beta == 0.f ? std::numeric_limits<float>::quiet_NaN() : nd(rng);
    std::memcpy(pc, c0.data(), c0.size() * sizeof(float));

    tf::cuda::gemm_wgmma(s, c.alpha, reinterpret_cast<uintptr_t>(pa), reinterpret_cast<uintptr_t>(pb), c.beta,
                         reinterpret_cast<uintptr_t>(pc), bt,
                         bf16 ? tf::cuda::MatmulPrecision::bf16 : tf::cuda::MatmulPrecision::tf32, 0);

    double err2 = 0, ref2 = 0;
    bool bad_gap = false, unwritten = false;
    for (int64_t z = 0; z < c.batch; ++z) {
        const float* a = pa + z * bt.stride_a;
        const float* b = pb + z * bt.stride_b;
        for (int64_t i = 0; i < c.m; ++i)
            for (int64_t j = 0; j < s.ldc; ++j) {
                const int64_t idx = z * sc + i * s.ldc + j;
                if (idx >= sc * c.batch) break;
                const float got = pc[idx];
                if (j >= c.n) {  // padding between rows: must be untouched
                    if (i == c.m - 1) break;
                    const float old = c0[idx];
                    if (!(got == old || (std::isnan(got) && std::isnan(old)))) bad_gap = true;
                    continue;
                }
                double acc = 0;
                for (int64_t p = 0; p < c.k; ++p)
                    acc += round_input(c.ta ? a[p * s.lda + i] : a[i * s.lda + p], bf16) *
                           round_input(c.tb ? b[j * s.ldb + p] : b[p * s.ldb + j], bf16);
                const double ref = c.alpha * acc + (c.beta == 0.f ? 0.0 : double(c.beta) * c0[idx]);
                if (!std::isfinite(got)) unwritten = true;
                err2 += (got - ref) * (got - ref);
                ref2 += ref * ref;
            }
    }
    const double rel = std::sqrt(err2) / std::max(std::sqrt(ref2), 1e-300);
    const bool ok = !unwritten && !bad_gap && rel < 1e-5;
    std::printf("%s wgmma %s m=%" PRId64 " n=%" PRId64 " k=%" PRId64 " ta=%d tb=%d pads=%" PRId64 ",%" PRId64
                ",%" PRId64 " off=%zu batch=%" PRId64 "%s alpha=%g beta=%g rel_err=%.2e%s%s\n",
                ok ? "ok  " : "FAIL", bf16 ? "bf16" : "tf32", c.m, c.n, c.k, c.ta, c.tb, c.pad_a, c.pad_b, c.pad_c,
                c.offset, c.batch, c.broadcast_b ? "(b broadcast)" : "", c.alpha, c.beta, rel,
                unwritten ? " UNWRITTEN/NaN" : "", bad_gap ? " WROTE-PADDING" : "");
    if (!ok) ++failures;
}

}  // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::string(argv[1]) == "quick";
    std::mt19937 rng(4321);
    std::vector<Case> cases;
    // Edges in m and n past one 128 x 128 tile, k past one k tile (32 tf32 / 64 bf16), every
    // transpose pair; then k long enough to wrap the 3 stages (tf32: 7 k tiles, bf16: 4).
    for (int t = 0; t < 4; ++t) {
        const bool ta = t & 1, tb = t & 2;
        cases.push_back({131, 129, 70, ta, tb, 0, 0, 0, 0, 1, false, 1.f, 0.f});
        if (!quick) cases.push_back({7, 5, 3, ta, tb, 3, 1, 2, 1, 1, false, 1.f, 0.f});
    }
    cases.push_back({65, 40, 211, false, true, 0, 0, 0, 0, 1, false, 1.f, 0.f});
    if (!quick) cases.push_back({20, 130, 200, true, false, 2, 5, 1, 1, 1, false, 1.f, 0.f});
    // alpha / beta, k = 0, batches with a broadcast B, the grid split (3 row tiles, limit 2)
    cases.push_back({33, 65, 17, false, false, 0, 0, 0, 0, 1, false, -0.5f, 1.5f});
    cases.push_back({5, 6, 0, false, false, 0, 0, 0, 0, 1, false, 3.f, 0.5f});
    if (!quick) {
        cases.push_back({5, 6, 0, true, true, 0, 0, 0, 0, 1, false, 1.f, 0.f});
        cases.push_back({1, 1, 1, false, false, 0, 0, 0, 0, 1, false, 1.f, 0.f});
        cases.push_back({9, 11, 13, true, true, 0, 0, 0, 0, 3, true, 0.75f, -0.5f});
        cases.push_back({2 * 128 + 1, 5, 4, true, false, 0, 0, 0, 0, 3, false, 1.f, 0.f});
    }
    for (const auto& c : cases)
        for (bool bf16 : {false, true}) check(c, bf16, rng);

    std::printf("%d launches emulated\n", static_cast<int>(tf_emu::launches));
    if (tf_emu::wgmma_errors > 0) {
        std::printf("FAIL: %d wgmma emulation errors (see stderr)\n", tf_emu::wgmma_errors.load());
        ++failures;
    }
    if (failures) {
        std::printf("%d FAILED\n", failures);
        return 1;
    }
    std::printf("ALL PASSED\n");
    return 0;
}
