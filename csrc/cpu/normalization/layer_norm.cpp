// LayerNorm driver (tensorforge/layer_norm.h): picks the row kernels of the active ISA
// (layer_norm_rows.h) and splits the rows over our thread pool. Forward: each thread normalises
// a contiguous block of rows. Backward: each thread computes dx for its rows in one pass per row
// and accumulates dweight / dbias into its own zeroed partial row; the partials are then summed
// in thread order (deterministic for a given thread count).
#include <tensorforge/layer_norm.h>

#include <algorithm>
#include <vector>

#include "../cpu_features.h"
#include "../thread_pool.h"
#include "layer_norm_rows.h"

namespace tf::cpu {
namespace {

constexpr int64_t kGrainElements = 1 << 14;  // below this many elements per thread, stay serial

LayerNormRowKernels<float> kernels(const float*) {
    switch (active_isa()) {
#if defined(TENSORFORGE_HAVE_X86_KERNELS)
        case Isa::avx512: return layer_norm_rows_f32_avx512();
        case Isa::avx2: return layer_norm_rows_f32_avx2();
#endif
        default: return layer_norm_rows_f32_baseline();
    }
}
LayerNormRowKernels<double> kernels(const double*) { return layer_norm_rows_f64_baseline(); }

int64_t row_grain(int64_t n) { return std::max<int64_t>(1, kGrainElements / std::max<int64_t>(n, 1)); }

template <typename T>
void forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd, int64_t rows, int64_t n, double eps) {
    const auto k = kernels(x);
    parallel_for(rows, row_grain(n), [&](int64_t begin, int64_t end) {
        k.forward(x + begin * n, weight, bias, y + begin * n, mean + begin, rstd + begin, end - begin, n, T(eps));
    });
}

template <typename T>
void backward(const T* dy, const T* x, const T* mean, const T* rstd, const T* weight, T* dx, T* dweight, T* dbias,
              int64_t rows, int64_t n) {
    const auto k = kernels(x);
    const int64_t most = std::max<int64_t>(1, rows / row_grain(n));
    const int threads = static_cast<int>(std::min<int64_t>(get_num_threads(), most));
    std::vector<T> partial((dweight ? threads : 0) * n + (dbias ? threads : 0) * n, T(0));
    T* dw_part = dweight ? partial.data() : nullptr;
    T* db_part = dbias ? partial.data() + (dweight ? threads * n : 0) : nullptr;
    auto run = [&](int tid, int nt) {
        const int64_t begin = rows * tid / nt, end = rows * (tid + 1) / nt;
        k.backward(dy + begin * n, x + begin * n, mean + begin, rstd + begin, weight, dx ? dx + begin * n : nullptr,
                   dw_part ? dw_part + tid * n : nullptr, db_part ? db_part + tid * n : nullptr, end - begin, n);
    };
    if (threads <= 1) run(0, 1);
    else parallel_run(threads, run);
    for (auto [out, part] : {std::pair{dweight, dw_part}, std::pair{dbias, db_part}}) {
        if (!out) continue;
        std::copy(part, part + n, out);
        for (int t = 1; t < threads; ++t)
            for (int64_t i = 0; i < n; ++i) out[i] += part[t * n + i];
    }
}

}  // namespace

void layer_norm_forward(const float* x, const float* weight, const float* bias, float* y, float* mean, float* rstd,
                        int64_t rows, int64_t n, double eps) {
    forward(x, weight, bias, y, mean, rstd, rows, n, eps);
}
void layer_norm_forward(const double* x, const double* weight, const double* bias, double* y, double* mean,
                        double* rstd, int64_t rows, int64_t n, double eps) {
    forward(x, weight, bias, y, mean, rstd, rows, n, eps);
}
void layer_norm_backward(const float* dy, const float* x, const float* mean, const float* rstd, const float* weight,
                         float* dx, float* dweight, float* dbias, int64_t rows, int64_t n) {
    backward(dy, x, mean, rstd, weight, dx, dweight, dbias, rows, n);
}
void layer_norm_backward(const double* dy, const double* x, const double* mean, const double* rstd,
                         const double* weight, double* dx, double* dweight, double* dbias, int64_t rows, int64_t n) {
    backward(dy, x, mean, rstd, weight, dx, dweight, dbias, rows, n);
}

}  // namespace tf::cpu
