// Python bindings of the elementwise training-step kernels (tensorforge/elementwise.h):
//   relu(x, out), relu_backward(y, grad, out),
//   dropout(x, out, keep, p, seed), dropout_backward(grad, keep, out, scale), dropout_keep(p, seed, i)
//   sum_rows(x, out)
// Float arrays C-contiguous, one dtype (float32 or float64), the same number of elements; keep is
// a C-contiguous uint8 array of that many elements; sum_rows takes a 2-D matrix and a vector of its
// column count; outputs writeable and not overlapping the
// inputs. The GIL is released while a kernel runs.
#include <tensorforge/elementwise.h>

#include <cmath>

#include "array_checks.h"

namespace tf::bind {
namespace {

void require_contiguous(const py::array& a, const std::string& where) {
    if (!(a.flags() & py::array::c_style)) throw py::value_error(where + " must be C-contiguous");
}

void require_size(const py::array& a, const py::array& out, const std::string& where) {
    if (a.size() != out.size())
        throw py::value_error(where + " has " + std::to_string(a.size()) + " elements " + shape_str(a) +
                              ", out has " + std::to_string(out.size()) + " " + shape_str(out));
}

// out: writeable, C-contiguous float; each input: same dtype and size, C-contiguous, not overlapping out.
void check_float_args(const char* fn, py::array& out, std::initializer_list<std::pair<const py::array*, const char*>> ins) {
    const std::string f(fn);
    require_writeable(out, (f + ": out").c_str());
    require_float(out, (f + ": out").c_str());
    require_contiguous(out, f + ": out");
    for (const auto& [a, name] : ins) {
        const std::string where = f + ": " + name;
        require_same_dtype(*a, out, where.c_str(), (f + ": out").c_str());
        require_contiguous(*a, where);
        require_size(*a, out, where);
        require_no_overlap(out, *a, (f + ": out").c_str(), where.c_str());
    }
}

void check_keep(const char* fn, const py::array& keep, const py::array& values) {
    const std::string where = std::string(fn) + ": keep";
    if (keep.dtype().num() != py::dtype::of<uint8_t>().num())
        throw py::type_error(where + " must be uint8, got " + std::string(py::str(keep.dtype())));
    require_contiguous(keep, where);
    require_size(keep, values, where);
}

bool is_f32(const py::array& a) { return a.dtype().num() == py::dtype::of<float>().num(); }

void check_p(const char* fn, double p) {
    if (!(p > 0.0 && p < 1.0))
        throw py::value_error(std::string(fn) + ": p must be in (0, 1) (0 and 1 are handled by the caller), got " +
                              std::to_string(p));
}

}  // namespace

void register_elementwise(py::module_& m) {
    m.def("relu", [](const py::array& x, py::array& out) {
        check_float_args("relu", out, {{&x, "x"}});
        const int64_t n = x.size();
        const bool f32 = is_f32(x);
        const void* xp = x.data();
        void* op = out.mutable_data();
        py::gil_scoped_release nogil;
        if (f32) cpu::relu_forward(static_cast<const float*>(xp), static_cast<float*>(op), n);
        else cpu::relu_forward(static_cast<const double*>(xp), static_cast<double*>(op), n);
    }, py::arg("x"), py::arg("out"), "out = max(x, 0)");
    m.def("relu_backward", [](const py::array& y, const py::array& grad, py::array& out) {
        check_float_args("relu_backward", out, {{&y, "y"}, {&grad, "grad"}});
        const int64_t n = y.size();
        const bool f32 = is_f32(y);
        const void* yp = y.data();
        const void* gp = grad.data();
        void* op = out.mutable_data();
        py::gil_scoped_release nogil;
        if (f32) cpu::relu_backward(static_cast<const float*>(yp), static_cast<const float*>(gp), static_cast<float*>(op), n);
        else cpu::relu_backward(static_cast<const double*>(yp), static_cast<const double*>(gp), static_cast<double*>(op), n);
    }, py::arg("y"), py::arg("grad"), py::arg("out"), "out = grad where the forward output y > 0, else 0");
    m.def("dropout", [](const py::array& x, py::array& out, py::array& keep, double p, uint64_t seed) {
        check_float_args("dropout", out, {{&x, "x"}});
        check_keep("dropout", keep, x);
        require_writeable(keep, "dropout: keep");
        require_no_overlap(keep, x, "dropout: keep", "dropout: x");
        require_no_overlap(keep, out, "dropout: keep", "dropout: out");
        check_p("dropout", p);
        const int64_t n = x.size();
        const bool f32 = is_f32(x);
        const void* xp = x.data();
        void* op = out.mutable_data();
        auto* kp = static_cast<uint8_t*>(keep.mutable_data());
        py::gil_scoped_release nogil;
        if (f32) cpu::dropout_forward(static_cast<const float*>(xp), static_cast<float*>(op), kp, n, p, seed);
        else cpu::dropout_forward(static_cast<const double*>(xp), static_cast<double*>(op), kp, n, p, seed);
    }, py::arg("x"), py::arg("out"), py::arg("keep"), py::arg("p"), py::arg("seed"),
       "keep = dropout_keep(p, seed, i) for each i; out = x * (keep ? 1 / (1 - p) : 0)");
    m.def("dropout_backward", [](const py::array& grad, const py::array& keep, py::array& out, double scale) {
        check_float_args("dropout_backward", out, {{&grad, "grad"}});
        check_keep("dropout_backward", keep, grad);
        require_no_overlap(out, keep, "dropout_backward: out", "dropout_backward: keep");
        const int64_t n = grad.size();
        const bool f32 = is_f32(grad);
        const void* gp = grad.data();
        const auto* kp = static_cast<const uint8_t*>(keep.data());
        void* op = out.mutable_data();
        py::gil_scoped_release nogil;
        if (f32) cpu::dropout_backward(static_cast<const float*>(gp), kp, static_cast<float*>(op), n, scale);
        else cpu::dropout_backward(static_cast<const double*>(gp), kp, static_cast<double*>(op), n, scale);
    }, py::arg("grad"), py::arg("keep"), py::arg("out"), py::arg("scale"), "out = grad * (keep ? scale : 0)");
    m.def("sum_rows", [](const py::array& x, py::array& out) {
        require_writeable(out, "sum_rows: out");
        require_float(out, "sum_rows: out");
        require_ndim(out, 1, 1, "sum_rows: out");
        require_contiguous(out, "sum_rows: out");
        require_same_dtype(x, out, "sum_rows: x", "sum_rows: out");
        require_ndim(x, 2, 2, "sum_rows: x");
        require_contiguous(x, "sum_rows: x");
        if (x.shape(1) != out.shape(0))
            throw py::value_error("sum_rows: x has " + std::to_string(x.shape(1)) + " columns " + shape_str(x) +
                                  ", out has " + std::to_string(out.shape(0)) + " elements");
        require_no_overlap(out, x, "sum_rows: out", "sum_rows: x");
        const int64_t rows = x.shape(0), cols = x.shape(1);
        const bool f32 = is_f32(out);
        const void* xp = x.data();
        void* op = out.mutable_data();
        py::gil_scoped_release nogil;
        if (f32) cpu::sum_rows(static_cast<const float*>(xp), static_cast<float*>(op), rows, cols);
        else cpu::sum_rows(static_cast<const double*>(xp), static_cast<double*>(op), rows, cols);
    }, py::arg("x"), py::arg("out"), "out[c] = sum over rows r of x[r, c] (blocks of rows summed in x's dtype, the blocks in float64)");
    m.def("dropout_keep", [](double p, uint64_t seed, int64_t i) {
        check_p("dropout_keep", p);
        if (i < 0) throw py::value_error("dropout_keep: i must be >= 0, got " + std::to_string(i));
        return cpu::dropout_keep(p, seed, i);
    }, py::arg("p"), py::arg("seed"), py::arg("i"), "Whether dropout(p, seed) keeps element i (the scalar reference)");
}

}  // namespace tf::bind
