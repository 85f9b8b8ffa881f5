// Portable operand packing for the attention kernel (pack_ops.h): one row of the sliver at a time.
#include "pack_ops.h"

namespace tf::cpu {
namespace {

template <typename T>
void interleave_rows(const T* a, int64_t lda, int64_t rows, int64_t w, int64_t cols, T* d) {
    for (int64_t r = 0; r < w; ++r) {
        if (r < rows) {
            const T* src = a + r * lda;
            for (int64_t p = 0; p < cols; ++p) d[p * w + r] = src[p];
        } else {
            for (int64_t p = 0; p < cols; ++p) d[p * w + r] = T(0);
        }
    }
}

}  // namespace

AttentionInterleaveRows<float> attention_interleave_rows_f32_baseline() { return &interleave_rows<float>; }
AttentionInterleaveRows<double> attention_interleave_rows_f64_baseline() { return &interleave_rows<double>; }

}  // namespace tf::cpu
