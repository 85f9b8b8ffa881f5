// CPU GEMM driver: C = alpha * op(A) * op(B) + beta * C, row-major (see tensorforge/gemm.h).
//
// BLIS-style blocking around a register-blocked MR x NR microkernel (microkernel.h):
//   for jc over N in NC columns          B panel KC x NC (packed, shared by all threads: L3)
//     for pc over K in KC steps           pack B into NR-wide slivers, in parallel
//       each thread, over its rows        A block MC x KC (packed per thread: L2)
//         for jr over NR slivers           B sliver KC x NR (L1)
//           for ir over MR slivers         microkernel, writing C from registers with alpha/beta
// C with at most 16 (AVX-512) or 8 (AVX2) columns takes the ISA's narrow kernel instead of the
// wide one. Packs that transpose (row-major A, transposed B) move 4 x 4 blocks through SSE
// registers. Packing reads op(A)/op(B) through the transpose flags and zero-pads ragged edges, so every
// microkernel call computes a full tile and odd sizes take the same path; only the ragged edge
// tiles go through a scratch tile that is then copied into C. beta is applied on the first K step only (beta == 0 never
// reads C). Threads split the rows of C, or its NR slivers when there are too few rows.
// Batched calls run whole matrices on separate threads when each matrix is small.
#include <tensorforge/gemm.h>

#include <algorithm>
#include <cstdlib>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include "../cpu_features.h"
#include "../thread_pool.h"
#include "microkernel.h"

namespace tf::cpu {
namespace {

constexpr int64_t KC = 256;
constexpr int64_t MC_TARGET = 120;   // rows of a packed A block (rounded down to a multiple of MR)
constexpr int64_t NC = 3072;         // columns of a packed B panel (a multiple of every NR)
constexpr double SMALL_FLOPS = 2.0 * 64 * 64 * 64;  // below this, one thread is faster

template <typename T>
class AlignedBuffer {
public:
    ~AlignedBuffer() { std::free(ptr_); }
    T* get(size_t count) {
        if (count > capacity_) {
            std::free(ptr_);
            size_t bytes = (count * sizeof(T) + 63) / 64 * 64;
            ptr_ = static_cast<T*>(std::aligned_alloc(64, bytes));
            if (!ptr_) throw std::bad_alloc();
            capacity_ = count;
        }
        return ptr_;
    }

private:
    T* ptr_ = nullptr;
    size_t capacity_ = 0;
};

template <typename T>
T* packed_a_buffer(size_t count) {
    thread_local AlignedBuffer<T> buffer;
    return buffer.get(count);
}
template <typename T>
T* packed_b_buffer(size_t count) {
    thread_local AlignedBuffer<T> buffer;
    return buffer.get(count);
}

// Transposing part of a pack: rows [0, live) of src (row stride ld, kc values each) into
// dst[p * width + r], in 4 x 4 blocks transposed in SSE registers (baseline x86-64). Returns the
// number of rows done (a multiple of 4); the caller copies the rest one by one.
template <typename T>
int64_t pack_transposed_4x4(const T*, int64_t, int64_t, int64_t, int, T*) { return 0; }
#if defined(__SSE2__)
template <>
int64_t pack_transposed_4x4<float>(const float* src, int64_t ld, int64_t live, int64_t kc, int width, float* dst) {
    const int64_t kc4 = kc / 4 * 4;
    int64_t r = 0;
    for (; r + 4 <= live; r += 4) {
        const float* s0 = src + r * ld;
        for (int64_t p = 0; p < kc4; p += 4) {
            __m128 x0 = _mm_loadu_ps(s0 + p), x1 = _mm_loadu_ps(s0 + ld + p);
            __m128 x2 = _mm_loadu_ps(s0 + 2 * ld + p), x3 = _mm_loadu_ps(s0 + 3 * ld + p);
            _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
            float* d = dst + p * width + r;
            _mm_storeu_ps(d, x0);
            _mm_storeu_ps(d + width, x1);
            _mm_storeu_ps(d + 2 * width, x2);
            _mm_storeu_ps(d + 3 * width, x3);
        }
        for (int64_t rr = r; rr < r + 4; ++rr)
            for (int64_t p = kc4; p < kc; ++p) dst[p * width + rr] = src[rr * ld + p];
    }
    return r;
}
#endif

// Rows [i0, i0 + rows) and depth [p0, p0 + kc) of op(A) into MR-row slivers (kc groups of MR).
template <typename T>
void pack_a(const GemmShape& s, const T* a, int64_t i0, int64_t rows, int64_t p0, int64_t kc, int mr, T* dst) {
    for (int64_t is = 0; is < rows; is += mr, dst += mr * kc) {
        int64_t live = std::min<int64_t>(mr, rows - is);
        if (!s.trans_a) {
            const T* block = a + (i0 + is) * s.lda + p0;
            for (int64_t r = pack_transposed_4x4(block, s.lda, live, kc, mr, dst); r < live; ++r) {
                const T* src = block + r * s.lda;
                for (int64_t p = 0; p < kc; ++p) dst[p * mr + r] = src[p];
            }
        } else {
            for (int64_t p = 0; p < kc; ++p) {
                const T* src = a + (p0 + p) * s.lda + i0 + is;
                for (int64_t r = 0; r < live; ++r) dst[p * mr + r] = src[r];
            }
        }
        for (int64_t r = live; r < mr; ++r)
            for (int64_t p = 0; p < kc; ++p) dst[p * mr + r] = T(0);
    }
}

// Slivers [s0, s1) (NR columns each, from column j0) of op(B)'s rows [p0, p0 + kc).
template <typename T>
void pack_b(const GemmShape& s, const T* b, int64_t j0, int64_t cols, int64_t p0, int64_t kc, int nr,
            int64_t s0, int64_t s1, T* panel) {
    for (int64_t sl = s0; sl < s1; ++sl) {
        T* dst = panel + sl * nr * kc;
        int64_t jj = j0 + sl * nr, live = std::min<int64_t>(nr, cols - sl * nr);
        if (!s.trans_b) {
            for (int64_t p = 0; p < kc; ++p) {
                const T* src = b + (p0 + p) * s.ldb + jj;
                for (int64_t c = 0; c < live; ++c) dst[p * nr + c] = src[c];
                for (int64_t c = live; c < nr; ++c) dst[p * nr + c] = T(0);
            }
        } else {
            const T* block = b + jj * s.ldb + p0;
            for (int64_t c = pack_transposed_4x4(block, s.ldb, live, kc, nr, dst); c < live; ++c) {
                const T* src = block + c * s.ldb;
                for (int64_t p = 0; p < kc; ++p) dst[p * nr + c] = src[p];
            }
            for (int64_t c = live; c < nr; ++c)
                for (int64_t p = 0; p < kc; ++p) dst[p * nr + c] = T(0);
        }
    }
}

template <typename T>
void store_tile(const T* tile, int nr, int64_t rows, int64_t cols, T alpha, T beta, bool first_k, T* c, int64_t ldc) {
    for (int64_t r = 0; r < rows; ++r) {
        T* crow = c + r * ldc;
        const T* t = tile + r * nr;
        if (!first_k) {
            for (int64_t j = 0; j < cols; ++j) crow[j] += alpha * t[j];
        } else if (beta == T(0)) {
            for (int64_t j = 0; j < cols; ++j) crow[j] = alpha * t[j];
        } else {
            for (int64_t j = 0; j < cols; ++j) crow[j] = alpha * t[j] + beta * crow[j];
        }
    }
}

template <typename T>
void scale_c(const GemmShape& s, T beta, T* c) {
    for (int64_t i = 0; i < s.m; ++i)
        for (int64_t j = 0; j < s.n; ++j) c[i * s.ldc + j] = beta == T(0) ? T(0) : beta * c[i * s.ldc + j];
}

template <typename T>
void gemm_single(const GemmShape& s, T alpha, const T* a, const T* b, T beta, T* c, const GemmMicrokernel<T>& uk,
                 int threads) {
    if (s.m == 0 || s.n == 0) return;
    if (s.k == 0) return scale_c(s, beta, c);
    const int mr = uk.mr, nr = uk.nr;
    const int64_t mc = std::max<int64_t>(mr, MC_TARGET / mr * mr);
    if (2.0 * s.m * s.n * s.k < SMALL_FLOPS) threads = 1;
    for (int64_t jc = 0; jc < s.n; jc += NC) {
        const int64_t ncols = std::min(NC, s.n - jc), slivers = (ncols + nr - 1) / nr;
        // Split rows between threads when each gets a few MR slivers, otherwise split columns.
        const int64_t row_slivers = (s.m + mr - 1) / mr;
        const int nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, std::max(row_slivers, slivers))));
        const bool split_rows = row_slivers >= 4 * nt || row_slivers >= slivers;
        for (int64_t pc = 0; pc < s.k; pc += KC) {
            const int64_t kc = std::min(KC, s.k - pc);
            const bool first_k = pc == 0;
            T* panel = packed_b_buffer<T>(slivers * nr * kc);
            parallel_run(nt, [&](int tid, int n) {
                pack_b(s, b, jc, ncols, pc, kc, nr, slivers * tid / n, slivers * (tid + 1) / n, panel);
            });
            parallel_run(nt, [&](int tid, int n) {
                int64_t r0 = 0, r1 = s.m, s0 = 0, s1 = slivers;
                if (split_rows) {
                    r0 = std::min(s.m, row_slivers * tid / n * mr);
                    r1 = std::min(s.m, row_slivers * (tid + 1) / n * mr);
                } else {
                    s0 = slivers * tid / n;
                    s1 = slivers * (tid + 1) / n;
                }
                if (r0 >= r1 || s0 >= s1) return;
                alignas(64) T tile[GEMM_TILE_MAX];
                for (int64_t ic = r0; ic < r1; ic += mc) {
                    const int64_t rows = std::min(mc, r1 - ic);
                    T* ablock = packed_a_buffer<T>(((rows + mr - 1) / mr) * mr * kc);
                    pack_a(s, a, ic, rows, pc, kc, mr, ablock);
                    for (int64_t sl = s0; sl < s1; ++sl) {
                        const int64_t j = jc + sl * nr, cols = std::min<int64_t>(nr, s.n - j);
                        for (int64_t ir = 0; ir < rows; ir += mr) {
                            const int64_t live_rows = std::min<int64_t>(mr, rows - ir);
                            const T* asl = ablock + ir * kc;
                            const T* bsl = panel + sl * nr * kc;
                            T* cdst = c + (ic + ir) * s.ldc + j;
                            if (live_rows == mr && cols == nr) {
                                uk.run(kc, asl, bsl, cdst, s.ldc, alpha, beta, !first_k);
                            } else {
                                uk.run(kc, asl, bsl, tile, nr, T(1), T(0), false);
                                store_tile(tile, nr, live_rows, cols, alpha, beta, first_k, cdst, s.ldc);
                            }
                        }
                    }
                }
            });
        }
    }
}

// The ISA's wide kernel, or its narrow one when C has no more columns than the narrow tile.
GemmMicrokernel<float> microkernel_for(float, [[maybe_unused]] int64_t n) {
    switch (active_isa()) {
#if defined(TENSORFORGE_HAVE_X86_KERNELS)
        case Isa::avx512: return n <= 16 ? gemm_microkernel_f32_avx512_narrow() : gemm_microkernel_f32_avx512();
        case Isa::avx2: return n <= 8 ? gemm_microkernel_f32_avx2_narrow() : gemm_microkernel_f32_avx2();
#endif
        default: return gemm_microkernel_f32_baseline();
    }
}
GemmMicrokernel<double> microkernel_for(double, int64_t) { return gemm_microkernel_f64_baseline(); }

template <typename T>
void gemm_batched(const GemmShape& s, T alpha, const T* a, const T* b, T beta, T* c, const GemmBatch& batch) {
    const GemmMicrokernel<T> uk = microkernel_for(T(0), s.n);
    const int threads = get_num_threads();
    const bool per_matrix_threads = batch.count >= threads && 2.0 * s.m * s.n * s.k < 64 * SMALL_FLOPS;
    if (threads > 1 && batch.count > 1 && per_matrix_threads) {
        parallel_for(batch.count, 1, [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i)
                gemm_single(s, alpha, a + i * batch.stride_a, b + i * batch.stride_b, beta, c + i * batch.stride_c, uk, 1);
        });
        return;
    }
    for (int64_t i = 0; i < batch.count; ++i)
        gemm_single(s, alpha, a + i * batch.stride_a, b + i * batch.stride_b, beta, c + i * batch.stride_c, uk, threads);
}

}  // namespace

void gemm(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c, const GemmBatch& batch) {
    gemm_batched(s, alpha, a, b, beta, c, batch);
}
void gemm(const GemmShape& s, double alpha, const double* a, const double* b, double beta, double* c,
          const GemmBatch& batch) {
    gemm_batched(s, alpha, a, b, beta, c, batch);
}

}  // namespace tf::cpu
