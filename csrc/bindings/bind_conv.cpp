// Python bindings of the CPU conv2d kernels (tensorforge/conv2d.h) on C-contiguous NCHW numpy arrays.
//
// The caller (python/tensorforge/ops/conv.py) computes the output size and allocates outputs;
// these functions check every array's rank, dtype, contiguity and shape against the others,
// then release the GIL around the kernel. padding is (top, left); bottom / right follow from
// the output size.
#include <tensorforge/conv2d.h>

#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <optional>

#include "array_checks.h"

namespace tf::bind {
namespace {

using Pair = std::array<int64_t, 2>;

void require_c_contiguous(const py::array& a, const char* name) {
    if (!(a.flags() & py::array::c_style))
        throw py::value_error(std::string(name) + " must be C-contiguous (shape " + shape_str(a) +
                              "); call np.ascontiguousarray first");
}

void require_conv_array(const py::array& a, const char* name) {
    require_ndim(a, 4, 4, name);
    require_float(a, name);
    require_c_contiguous(a, name);
}

// The convolution described by input (n, c_in, h, w), weight (c_out, c_in/groups, kh, kw) and
// output (n, c_out, oh, ow) shapes; raises on any inconsistency.
Conv2dShape conv_shape(const py::array& x, const py::array& w, const py::array& y, Pair stride, Pair padding,
                       Pair dilation, int64_t groups) {
    for (int i = 0; i < 2; ++i) {
        if (stride[i] < 1) throw py::value_error("conv2d: stride must be >= 1, got " + std::to_string(stride[i]));
        if (dilation[i] < 1) throw py::value_error("conv2d: dilation must be >= 1, got " + std::to_string(dilation[i]));
        if (padding[i] < 0) throw py::value_error("conv2d: padding must be >= 0, got " + std::to_string(padding[i]));
    }
    if (groups < 1) throw py::value_error("conv2d: groups must be >= 1, got " + std::to_string(groups));
    Conv2dShape s;
    s.n = x.shape(0), s.c_in = x.shape(1), s.h = x.shape(2), s.w = x.shape(3);
    s.c_out = w.shape(0), s.kh = w.shape(2), s.kw = w.shape(3);
    s.oh = y.shape(2), s.ow = y.shape(3);
    s.stride_h = stride[0], s.stride_w = stride[1], s.pad_h = padding[0], s.pad_w = padding[1];
    s.dil_h = dilation[0], s.dil_w = dilation[1], s.groups = groups;
    if (s.c_in % groups || s.c_out % groups)
        throw py::value_error("conv2d: groups=" + std::to_string(groups) + " must divide in_channels (" +
                              std::to_string(s.c_in) + ") and out_channels (" + std::to_string(s.c_out) + ")");
    if (w.shape(1) * groups != s.c_in)
        throw py::value_error("conv2d: weight " + shape_str(w) + " with groups=" + std::to_string(groups) + " expects " +
                              std::to_string(w.shape(1) * groups) + " input channels, input is " + shape_str(x));
    if (y.shape(0) != s.n || y.shape(1) != s.c_out)
        throw py::value_error("conv2d: output " + shape_str(y) + " does not match input " + shape_str(x) +
                              " and weight " + shape_str(w));
    return s;
}

template <typename T>
const T* ptr(const py::array& a) {
    return static_cast<const T*>(a.data());
}
template <typename T>
T* mut(py::array& a) {
    return static_cast<T*>(a.mutable_data());
}

void forward(const py::array& x, const py::array& w, const std::optional<py::array>& bias, py::array& y, Pair stride,
             Pair padding, Pair dilation, int64_t groups) {
    require_conv_array(x, "input");
    require_conv_array(w, "weight");
    require_conv_array(y, "out");
    require_same_dtype(x, w, "input", "weight");
    require_same_dtype(x, y, "input", "out");
    require_writeable(y, "out");
    require_no_overlap(y, x, "out", "input");
    require_no_overlap(y, w, "out", "weight");
    const Conv2dShape s = conv_shape(x, w, y, stride, padding, dilation, groups);
    if (bias) {
        require_ndim(*bias, 1, 1, "bias");
        require_same_dtype(x, *bias, "input", "bias");
        require_c_contiguous(*bias, "bias");
        if (bias->shape(0) != s.c_out)
            throw py::value_error("conv2d: bias " + shape_str(*bias) + " must have out_channels=" +
                                  std::to_string(s.c_out) + " elements");
    }
    if (y.size() == 0) return;
    py::gil_scoped_release nogil;
    if (x.itemsize() == 4) cpu::conv2d_forward(s, ptr<float>(x), ptr<float>(w), bias ? ptr<float>(*bias) : nullptr, mut<float>(y));
    else cpu::conv2d_forward(s, ptr<double>(x), ptr<double>(w), bias ? ptr<double>(*bias) : nullptr, mut<double>(y));
}

void grad_input(const py::array& dy, const py::array& w, py::array& dx, Pair stride, Pair padding, Pair dilation,
                int64_t groups) {
    require_conv_array(dy, "grad_output");
    require_conv_array(w, "weight");
    require_conv_array(dx, "grad_input");
    require_same_dtype(dy, w, "grad_output", "weight");
    require_same_dtype(dy, dx, "grad_output", "grad_input");
    require_writeable(dx, "grad_input");
    require_no_overlap(dx, dy, "grad_input", "grad_output");
    require_no_overlap(dx, w, "grad_input", "weight");
    const Conv2dShape s = conv_shape(dx, w, dy, stride, padding, dilation, groups);
    if (dx.size() == 0) return;
    py::gil_scoped_release nogil;
    if (dy.itemsize() == 4) cpu::conv2d_grad_input(s, ptr<float>(dy), ptr<float>(w), mut<float>(dx));
    else cpu::conv2d_grad_input(s, ptr<double>(dy), ptr<double>(w), mut<double>(dx));
}

void grad_weight(const py::array& x, const py::array& dy, py::array& dw, Pair stride, Pair padding, Pair dilation,
                 int64_t groups) {
    require_conv_array(x, "input");
    require_conv_array(dy, "grad_output");
    require_conv_array(dw, "grad_weight");
    require_same_dtype(x, dy, "input", "grad_output");
    require_same_dtype(x, dw, "input", "grad_weight");
    require_writeable(dw, "grad_weight");
    require_no_overlap(dw, x, "grad_weight", "input");
    require_no_overlap(dw, dy, "grad_weight", "grad_output");
    const Conv2dShape s = conv_shape(x, dw, dy, stride, padding, dilation, groups);
    if (dw.size() == 0) return;
    if (dy.size() == 0) {
        std::fill_n(static_cast<char*>(dw.mutable_data()), dw.nbytes(), 0);
        return;
    }
    py::gil_scoped_release nogil;
    if (x.itemsize() == 4) cpu::conv2d_grad_weight(s, ptr<float>(x), ptr<float>(dy), mut<float>(dw));
    else cpu::conv2d_grad_weight(s, ptr<double>(x), ptr<double>(dy), mut<double>(dw));
}

}  // namespace

void register_conv(py::module_& m) {
    m.def("conv2d_forward", &forward, py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("out"),
          py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
          "out = conv2d(input, weight) + bias on C-contiguous NCHW float32/float64 arrays (padding = (top, left)).");
    m.def("conv2d_grad_input", &grad_input, py::arg("grad_output"), py::arg("weight"), py::arg("grad_input"),
          py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
          "grad_input = gradient of conv2d with respect to its input (overwritten).");
    m.def("conv2d_grad_weight", &grad_weight, py::arg("input"), py::arg("grad_output"), py::arg("grad_weight"),
          py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
          "grad_weight = gradient of conv2d with respect to its weight (overwritten).");
}

}  // namespace tf::bind
