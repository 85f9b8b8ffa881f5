// Python bindings of the elementwise activation kernels (tensorforge/activation.h):
//   gelu(x, out), gelu_backward(x, grad, out), gelu_tanh(x, out), gelu_tanh_backward(x, grad, out),
//   erf(x, out)
// All arrays C-contiguous, one float dtype, the same number of elements; out writeable and not
// overlapping the inputs. The GIL is released while the kernel runs.
#include <tensorforge/activation.h>

#include "array_checks.h"

namespace tf::bind {
namespace {

void check_operand(const py::array& a, const py::array& out, const char* fn, const char* name) {
    std::string where = std::string(fn) + ": " + name;
    require_float(a, where.c_str());
    require_same_dtype(a, out, where.c_str(), (std::string(fn) + ": out").c_str());
    if (!(a.flags() & py::array::c_style))
        throw py::value_error(where + " must be C-contiguous");
    if (a.size() != out.size())
        throw py::value_error(where + " has " + std::to_string(a.size()) + " elements " + shape_str(a) +
                              ", out has " + std::to_string(out.size()) + " " + shape_str(out));
    require_no_overlap(out, a, (std::string(fn) + ": out").c_str(), where.c_str());
}

void check_out(const py::array& out, const char* fn) {
    std::string where = std::string(fn) + ": out";
    require_writeable(out, where.c_str());
    if (!(out.flags() & py::array::c_style)) throw py::value_error(where + " must be C-contiguous");
}

template <typename Kernel>
void unary(const char* fn, const py::array& x, py::array& out, Kernel kernel) {
    check_out(out, fn);
    check_operand(x, out, fn, "x");
    const int64_t n = x.size();
    const bool f32 = x.dtype().num() == py::dtype::of<float>().num();
    const void* xp = x.data();
    void* op = out.mutable_data();
    py::gil_scoped_release nogil;
    if (f32) kernel(static_cast<const float*>(xp), static_cast<float*>(op), n);
    else kernel(static_cast<const double*>(xp), static_cast<double*>(op), n);
}

template <typename Kernel>
void binary(const char* fn, const py::array& x, const py::array& grad, py::array& out, Kernel kernel) {
    check_out(out, fn);
    check_operand(x, out, fn, "x");
    check_operand(grad, out, fn, "grad");
    const int64_t n = x.size();
    const bool f32 = x.dtype().num() == py::dtype::of<float>().num();
    const void* xp = x.data();
    const void* gp = grad.data();
    void* op = out.mutable_data();
    py::gil_scoped_release nogil;
    if (f32) kernel(static_cast<const float*>(xp), static_cast<const float*>(gp), static_cast<float*>(op), n);
    else kernel(static_cast<const double*>(xp), static_cast<const double*>(gp), static_cast<double*>(op), n);
}

}  // namespace

void register_activation(py::module_& m) {
    m.def("gelu", [](const py::array& x, py::array& out) {
        unary("gelu", x, out, [](auto* a, auto* b, int64_t n) { tf::cpu::gelu_forward(a, b, n); });
    }, py::arg("x"), py::arg("out"), "out = x * Phi(x) (exact GELU, erf form)");
    m.def("erf", [](const py::array& x, py::array& out) {
        unary("erf", x, out, [](auto* a, auto* b, int64_t n) { tf::cpu::erf(a, b, n); });
    }, py::arg("x"), py::arg("out"), "out = erf(x)");
    m.def("gelu_tanh", [](const py::array& x, py::array& out) {
        unary("gelu_tanh", x, out, [](auto* a, auto* b, int64_t n) { tf::cpu::gelu_tanh_forward(a, b, n); });
    }, py::arg("x"), py::arg("out"), "out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))");
    m.def("gelu_backward", [](const py::array& x, const py::array& grad, py::array& out) {
        binary("gelu_backward", x, grad, out,
               [](auto* a, auto* g, auto* o, int64_t n) { tf::cpu::gelu_backward(a, g, o, n); });
    }, py::arg("x"), py::arg("grad"), py::arg("out"), "out = grad * (Phi(x) + x phi(x))");
    m.def("gelu_tanh_backward", [](const py::array& x, const py::array& grad, py::array& out) {
        binary("gelu_tanh_backward", x, grad, out,
               [](auto* a, auto* g, auto* o, int64_t n) { tf::cpu::gelu_tanh_backward(a, g, o, n); });
    }, py::arg("x"), py::arg("grad"), py::arg("out"), "out = grad * d/dx of the tanh-form GELU");
}

}  // namespace tf::bind
