// Python bindings of the LayerNorm kernels (tensorforge/layer_norm.h):
//   layer_norm(x, n, weight, bias, eps, out, mean, rstd)
//   layer_norm_backward(grad, x, mean, rstd, weight, grad_x, grad_weight, grad_bias)
// x, out, grad, grad_x: C-contiguous, a whole number of rows of n elements; mean, rstd: one value
// per row; weight, bias, grad_weight, grad_bias: n elements. weight, bias and the three grad
// outputs may be None. One float dtype throughout; outputs writeable and not overlapping the
// inputs. The GIL is released while the kernel runs.
#include <tensorforge/layer_norm.h>

#include <algorithm>
#include <optional>
#include <vector>

#include <pybind11/stl.h>

#include "array_checks.h"

namespace tf::bind {
namespace {

using Opt = std::optional<py::array>;

struct Checker {
    const char* fn;
    const py::array& ref;  // fixes the dtype
    std::string name(const char* arg) const { return std::string(fn) + ": " + arg; }

    void operand(const py::array& a, const char* arg, int64_t size) const {
        const std::string where = name(arg);
        require_float(a, where.c_str());
        require_same_dtype(a, ref, where.c_str(), name("x").c_str());
        if (!(a.flags() & py::array::c_style)) throw py::value_error(where + " must be C-contiguous");
        if (a.size() != size)
            throw py::value_error(where + " has " + std::to_string(a.size()) + " elements " + shape_str(a) +
                                  ", expected " + std::to_string(size));
    }
    void output(py::array& out, const char* arg, int64_t size, const std::vector<const py::array*>& inputs,
                const std::vector<const char*>& input_names) const {
        require_writeable(out, name(arg).c_str());
        operand(out, arg, size);
        for (size_t i = 0; i < inputs.size(); ++i)
            require_no_overlap(out, *inputs[i], name(arg).c_str(), name(input_names[i]).c_str());
    }
};

template <typename T>
const T* ptr(const Opt& a) { return a ? static_cast<const T*>(a->data()) : nullptr; }
template <typename T>
T* mut(Opt& a) { return a ? static_cast<T*>(a->mutable_data()) : nullptr; }

int64_t row_count(const py::array& x, int64_t n, const char* fn) {
    if (n <= 0) throw py::value_error(std::string(fn) + ": n must be positive, got " + std::to_string(n));
    if (x.size() % n != 0)
        throw py::value_error(std::string(fn) + ": x has " + std::to_string(x.size()) + " elements " + shape_str(x) +
                              ", not a whole number of rows of " + std::to_string(n));
    return x.size() / n;
}

void forward(const py::array& x, int64_t n, const Opt& weight, const Opt& bias, double eps, py::array& out,
             py::array& mean, py::array& rstd) {
    const Checker c{"layer_norm", x};
    const int64_t rows = row_count(x, n, c.fn);
    c.operand(x, "x", rows * n);
    if (weight) c.operand(*weight, "weight", n);
    if (bias) c.operand(*bias, "bias", n);
    c.output(out, "out", rows * n, {&x}, {"x"});
    c.output(mean, "mean", rows, {&x, &out}, {"x", "out"});
    c.output(rstd, "rstd", rows, {&x, &out, &mean}, {"x", "out", "mean"});
    const bool f32 = x.dtype().num() == py::dtype::of<float>().num();
    py::gil_scoped_release nogil;
    if (f32)
        tf::cpu::layer_norm_forward(static_cast<const float*>(x.data()), ptr<float>(weight), ptr<float>(bias),
                                    static_cast<float*>(out.mutable_data()), static_cast<float*>(mean.mutable_data()),
                                    static_cast<float*>(rstd.mutable_data()), rows, n, eps);
    else
        tf::cpu::layer_norm_forward(static_cast<const double*>(x.data()), ptr<double>(weight), ptr<double>(bias),
                                    static_cast<double*>(out.mutable_data()),
                                    static_cast<double*>(mean.mutable_data()),
                                    static_cast<double*>(rstd.mutable_data()), rows, n, eps);
}

void backward(const py::array& grad, const py::array& x, const py::array& mean, const py::array& rstd,
              const Opt& weight, Opt& grad_x, Opt& grad_weight, Opt& grad_bias) {
    const Checker c{"layer_norm_backward", x};
    const int64_t rows = mean.size();
    if (rows == 0) throw py::value_error("layer_norm_backward: mean is empty");
    const int64_t n = x.size() / rows;
    if (row_count(x, std::max<int64_t>(n, 1), c.fn) != rows)
        throw py::value_error("layer_norm_backward: x has " + std::to_string(x.size()) + " elements " + shape_str(x) +
                              ", not " + std::to_string(rows) + " rows (the size of mean)");
    c.operand(x, "x", rows * n);
    c.operand(grad, "grad", rows * n);
    c.operand(mean, "mean", rows);
    c.operand(rstd, "rstd", rows);
    if (weight) c.operand(*weight, "weight", n);
    const std::vector<const py::array*> ins{&grad, &x, &mean, &rstd};
    const std::vector<const char*> names{"grad", "x", "mean", "rstd"};
    if (grad_x) c.output(*grad_x, "grad_x", rows * n, ins, names);
    if (grad_weight) c.output(*grad_weight, "grad_weight", n, ins, names);
    if (grad_bias) c.output(*grad_bias, "grad_bias", n, ins, names);
    const bool f32 = x.dtype().num() == py::dtype::of<float>().num();
    py::gil_scoped_release nogil;
    if (f32)
        tf::cpu::layer_norm_backward(static_cast<const float*>(grad.data()), static_cast<const float*>(x.data()),
                                     static_cast<const float*>(mean.data()), static_cast<const float*>(rstd.data()),
                                     ptr<float>(weight), mut<float>(grad_x), mut<float>(grad_weight),
                                     mut<float>(grad_bias), rows, n);
    else
        tf::cpu::layer_norm_backward(static_cast<const double*>(grad.data()), static_cast<const double*>(x.data()),
                                     static_cast<const double*>(mean.data()), static_cast<const double*>(rstd.data()),
                                     ptr<double>(weight), mut<double>(grad_x), mut<double>(grad_weight),
                                     mut<double>(grad_bias), rows, n);
}

}  // namespace

void register_normalization(py::module_& m) {
    m.def("layer_norm", &forward, py::arg("x"), py::arg("n"), py::arg("weight"), py::arg("bias"), py::arg("eps"),
          py::arg("out"), py::arg("mean"), py::arg("rstd"),
          "LayerNorm of each row of n elements into out; saves each row's mean and 1/std");
    m.def("layer_norm_backward", &backward, py::arg("grad"), py::arg("x"), py::arg("mean"), py::arg("rstd"),
          py::arg("weight"), py::arg("grad_x"), py::arg("grad_weight"), py::arg("grad_bias"),
          "grad_x, grad_weight, grad_bias (each optional) of layer_norm");
}

}  // namespace tf::bind
