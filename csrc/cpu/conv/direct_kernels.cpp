// Portable kernels of the direct conv2d path (direct_kernels.h; any target, aarch64 included) and
// the run-time choice among the per-ISA ones: plain loops over fixed-size accumulator arrays that
// the compiler keeps in vector registers of the baseline ISA.
#include "direct_kernels.h"

#include "../cpu_features.h"

namespace tf::cpu {
namespace {

constexpr int FWD_MB = 4, TILE = 16, GW_MB = 4, GW_KB = 8, VL = 8;

template <typename T>
void forward(int64_t k, const T* w, int mb, const T* panel, int64_t ldp, const T* bias, T* y, int64_t ldy,
             int64_t ncols) {
    for (int r = 0; r < mb; ++r) {
        T acc[TILE];
        for (int c = 0; c < TILE; ++c) acc[c] = bias ? bias[r] : T(0);
        for (int64_t t = 0; t < k; ++t) {
            const T wv = w[r * k + t];
            for (int c = 0; c < TILE; ++c) acc[c] += wv * panel[t * ldp + c];
        }
        for (int64_t c = 0; c < ncols; ++c) y[r * ldy + c] = acc[c];
    }
}

template <typename T>
void grad_weight(int kb, int mb, const T* dy, int64_t ldy, const T* panel, int64_t ldp, int64_t ncols, T* acc,
                 int64_t lda) {
    for (int r = 0; r < mb; ++r)
        for (int t = 0; t < kb; ++t) {
            T a[VL];
            for (int l = 0; l < VL; ++l) a[l] = acc[r * lda + t * VL + l];
            int64_t c = 0;
            for (; c + VL <= ncols; c += VL)
                for (int l = 0; l < VL; ++l) a[l] += dy[r * ldy + c + l] * panel[t * ldp + c + l];
            for (int l = 0; c + l < ncols; ++l) a[l] += dy[r * ldy + c + l] * panel[t * ldp + c + l];
            for (int l = 0; l < VL; ++l) acc[r * lda + t * VL + l] = a[l];
        }
}

}  // namespace

DirectKernels<float> direct_kernels_f32_baseline() {
    return {FWD_MB, TILE, GW_MB, GW_KB, VL, forward<float>, grad_weight<float>};
}
DirectKernels<double> direct_kernels_f64_baseline() {
    return {FWD_MB, TILE, GW_MB, GW_KB, VL, forward<double>, grad_weight<double>};
}

DirectKernels<float> direct_kernels(float) {
    switch (active_isa()) {
#if defined(TENSORFORGE_HAVE_X86_KERNELS)
        case Isa::avx512: return direct_kernels_f32_avx512();
        case Isa::avx2: return direct_kernels_f32_avx2();
#endif
        default: return direct_kernels_f32_baseline();
    }
}
DirectKernels<double> direct_kernels(double) { return direct_kernels_f64_baseline(); }

}  // namespace tf::cpu
