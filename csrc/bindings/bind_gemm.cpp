// Python binding of the CPU GEMM: out = alpha * a @ b + beta * out on numpy arrays.
//
// a (m, k) and b (k, n), or batched (batch, m, k) and (batch, k, n) with any batch strides
// (0 broadcasts). Each matrix may be row-major or a transposed view (either inner stride 1):
// the binding turns that into BLAS transpose flags, so `x @ w.T` needs no copy. `out` must be
// writeable with unit stride along its rows. The GIL is released during the call.
#include <tensorforge/gemm.h>

#include "../cpu/gemm/gemm_plan.h"
#include "array_checks.h"

namespace tf::bind {
namespace {

struct Operand {
    bool trans = false;
    int64_t ld = 0;
};

// A 2-D view with element strides (rs, cs) is a BLAS operand when it is row-major with
// ld >= cols (no transpose) or column-major with ld >= rows (transpose); size-1 dims are free.
Operand operand_layout(const py::array& x, int row_dim, const char* name) {
    int64_t rows = x.shape(row_dim), cols = x.shape(row_dim + 1);
    int64_t rs = elem_stride(x, row_dim, name), cs = elem_stride(x, row_dim + 1, name);
    if (rows == 0 || cols == 0) return {false, std::max<int64_t>(cols, 1)};  // nothing is read
    if ((cols == 1 || cs == 1) && (rows == 1 || rs >= std::max<int64_t>(cols, 1)))
        return {false, rows == 1 ? std::max<int64_t>(cols, 1) : rs};
    if ((rows == 1 || rs == 1) && (cols == 1 || cs >= std::max<int64_t>(rows, 1)))
        return {true, cols == 1 ? std::max<int64_t>(rows, 1) : cs};
    throw py::value_error(std::string(name) + " must be contiguous along one of its last two dimensions (shape " +
                          shape_str(x) + "); call np.ascontiguousarray first");
}

template <typename T>
void run(const py::array& a, const py::array& b, py::array& out, double alpha, double beta) {
    int rd = a.ndim() - 2;
    Operand oa = operand_layout(a, rd, "a"), ob = operand_layout(b, rd, "b");
    GemmShape s;
    s.m = a.shape(rd);
    s.k = a.shape(rd + 1);
    s.n = b.shape(rd + 1);
    s.trans_a = oa.trans;
    s.trans_b = ob.trans;
    s.lda = oa.ld;
    s.ldb = ob.ld;
    Operand oc = operand_layout(out, rd, "out");
    if (oc.trans) throw py::value_error("out must be row-major (unit stride along its last dimension), shape " + shape_str(out));
    s.ldc = oc.ld;
    GemmBatch batch;
    if (rd == 1) {
        batch.count = a.shape(0);
        batch.stride_a = elem_stride(a, 0, "a");
        batch.stride_b = elem_stride(b, 0, "b");
        batch.stride_c = elem_stride(out, 0, "out");
    }
    const T* pa = static_cast<const T*>(a.data());
    const T* pb = static_cast<const T*>(b.data());
    T* pc = static_cast<T*>(out.mutable_data());
    py::gil_scoped_release nogil;
    cpu::gemm(s, static_cast<T>(alpha), pa, pb, static_cast<T>(beta), pc, batch);
}

void gemm(const py::array& a, const py::array& b, py::array& out, double alpha, double beta) {
    require_ndim(a, 2, 3, "a");
    require_ndim(b, a.ndim(), a.ndim(), "b");
    require_ndim(out, a.ndim(), a.ndim(), "out");
    require_float(a, "a");
    require_same_dtype(a, b, "a", "b");
    require_same_dtype(a, out, "a", "out");
    require_writeable(out, "out");
    int rd = a.ndim() - 2;
    if (a.shape(rd + 1) != b.shape(rd) || out.shape(rd) != a.shape(rd) || out.shape(rd + 1) != b.shape(rd + 1) ||
        (rd == 1 && (b.shape(0) != a.shape(0) || out.shape(0) != a.shape(0))))
        throw py::value_error("gemm shape mismatch: a " + shape_str(a) + " @ b " + shape_str(b) + " -> out " +
                              shape_str(out));
    if (out.size() == 0) return;
    if (rd == 1 && out.shape(0) > 1 && out.strides(0) == 0)
        throw py::value_error("out has batch stride 0: every batch would write the same matrix");
    require_no_overlap(out, a, "out", "a");
    require_no_overlap(out, b, "out", "b");
    if (a.itemsize() == 4) run<float>(a, b, out, alpha, beta);
    else run<double>(a, b, out, alpha, beta);
}

}  // namespace

void register_gemm(py::module_& m) {
    m.def("gemm", &gemm, py::arg("a"), py::arg("b"), py::arg("out"), py::kw_only(), py::arg("alpha") = 1.0,
          py::arg("beta") = 0.0,
          "out = alpha * a @ b + beta * out for 2-D or batched 3-D float32/float64 arrays (our CPU GEMM).");
    m.def(
        "gemm_set_split",
        [](const std::string& mode) {
            static const char* names[] = {"auto", "rows", "columns", "depth"};
            int code = -1;
            for (int i = 0; i < 4; ++i)
                if (mode == names[i]) code = i;
            if (code < 0)
                throw py::value_error("gemm_set_split: mode must be 'auto', 'rows', 'columns' or 'depth', got '" + mode +
                                      "'");
            std::string old = names[cpu::gemm_split_override()];
            cpu::set_gemm_split_override(code);
            return old;
        },
        py::arg("mode"),
        "Testing hook: 'rows', 'columns' or 'depth' (K, with a reduction) forces how the CPU GEMM splits the "
        "product over all threads; 'auto' (the "
        "default) lets the cost model choose. Returns the previous mode.");
    m.def(
        "gemm_plan",
        [](int64_t m, int64_t n, int64_t k, int threads, bool trans_a, bool trans_b) {
            const cpu::GemmPlan p = cpu::gemm_plan_for_shape(m, n, k, trans_a, trans_b, threads);
            static const char* names[] = {"rows", "columns", "dot", "depth", "small"};
            return py::make_tuple(p.threads, names[static_cast<int>(p.split)]);
        },
        py::arg("m"), py::arg("n"), py::arg("k"), py::arg("threads"), py::arg("trans_a") = false,
        py::arg("trans_b") = false,
        "(threads, split) the float32 CPU GEMM would use for an m x n x k product on the active SIMD path: "
        "split 'rows' or 'columns' of C or 'depth' (K, then a reduction) on packed operands, 'dot' (few "
        "columns, dot-product kernel) or 'small' (a tiny product, unpacked, one thread).");
}

}  // namespace tf::bind
