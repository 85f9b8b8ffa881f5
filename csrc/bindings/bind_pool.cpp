// Python bindings of the CPU pooling kernels (tensorforge/pool2d.h) on C-contiguous NCHW numpy arrays.
//
// The caller (python/tensorforge/ops/pooling.py) computes the output size (floor / ceil mode) and
// allocates outputs; these functions check ranks, dtypes, contiguity and matching shapes, then
// release the GIL around the kernel. Max-pool indices are int64 flat positions r * w + c within
// each input plane; the backward checks they are in range before scattering through them.
#include <tensorforge/pool2d.h>

#include <pybind11/stl.h>

#include <array>

#include "array_checks.h"

namespace tf::bind {
namespace {

using Pair = std::array<int64_t, 2>;

void require_pool_array(const py::array& a, const char* name, bool floating = true) {
    require_ndim(a, 4, 4, name);
    if (floating) require_float(a, name);
    if (!(a.flags() & py::array::c_style))
        throw py::value_error(std::string(name) + " must be C-contiguous (shape " + shape_str(a) +
                              "); call np.ascontiguousarray first");
}

void require_indices(const py::array& idx) {
    require_pool_array(idx, "indices", false);
    if (idx.dtype().kind() != 'i' || idx.itemsize() != 8)
        throw py::type_error("indices must be int64, got " + std::string(py::str(idx.dtype())));
}

// Plane stack shape from input (n, c, h, w) and output (n, c, oh, ow).
Pool2dShape planes_shape(const py::array& x, const py::array& y) {
    if (x.shape(0) != y.shape(0) || x.shape(1) != y.shape(1))
        throw py::value_error("pooling: output " + shape_str(y) + " does not match input " + shape_str(x) +
                              " in batch and channels");
    Pool2dShape s;
    s.planes = x.shape(0) * x.shape(1), s.h = x.shape(2), s.w = x.shape(3), s.oh = y.shape(2), s.ow = y.shape(3);
    return s;
}

Pool2dShape window_shape(const py::array& x, const py::array& y, Pair kernel, Pair stride, Pair padding,
                         Pair dilation) {
    for (int i = 0; i < 2; ++i) {
        if (kernel[i] < 1 || stride[i] < 1 || dilation[i] < 1 || padding[i] < 0)
            throw py::value_error("pooling: kernel_size, stride and dilation must be >= 1 and padding >= 0");
    }
    Pool2dShape s = planes_shape(x, y);
    s.kh = kernel[0], s.kw = kernel[1], s.stride_h = stride[0], s.stride_w = stride[1];
    s.pad_h = padding[0], s.pad_w = padding[1], s.dil_h = dilation[0], s.dil_w = dilation[1];
    return s;
}

// Checks the (input-side, output-side) pair of a pooling call; returns true when there is work.
bool check_pair(const py::array& in, const char* in_name, py::array& out, const char* out_name) {
    require_pool_array(in, in_name);
    require_pool_array(out, out_name);
    require_same_dtype(in, out, in_name, out_name);
    require_writeable(out, out_name);
    require_no_overlap(out, in, out_name, in_name);
    return out.size() != 0;
}

template <typename T>
const T* ptr(const py::array& a) {
    return static_cast<const T*>(a.data());
}
template <typename T>
T* mut(py::array& a) {
    return static_cast<T*>(a.mutable_data());
}

void max_forward(const py::array& x, py::array& y, py::array& idx, Pair kernel, Pair stride, Pair padding,
                 Pair dilation) {
    const bool work = check_pair(x, "input", y, "out");
    require_indices(idx);
    require_writeable(idx, "indices");
    for (int d = 0; d < 4; ++d)
        if (idx.shape(d) != y.shape(d)) throw py::value_error("indices " + shape_str(idx) + " must match out " + shape_str(y));
    const Pool2dShape s = window_shape(x, y, kernel, stride, padding, dilation);
    if (!work) return;
    if (s.h == 0 || s.w == 0) throw py::value_error("max_pool2d: input " + shape_str(x) + " has an empty plane");
    int64_t* pi = static_cast<int64_t*>(idx.mutable_data());
    py::gil_scoped_release nogil;
    if (x.itemsize() == 4) cpu::max_pool2d_forward(s, ptr<float>(x), mut<float>(y), pi);
    else cpu::max_pool2d_forward(s, ptr<double>(x), mut<double>(y), pi);
}

void max_backward(const py::array& dy, const py::array& idx, py::array& dx) {
    const bool work = check_pair(dy, "grad_output", dx, "grad_input");
    require_indices(idx);
    for (int d = 0; d < 4; ++d)
        if (idx.shape(d) != dy.shape(d))
            throw py::value_error("indices " + shape_str(idx) + " must match grad_output " + shape_str(dy));
    const Pool2dShape s = planes_shape(dx, dy);
    if (!work) return;
    const int64_t* pi = static_cast<const int64_t*>(idx.data());
    const int64_t plane = s.h * s.w;
    for (int64_t i = 0; i < idx.size(); ++i)
        if (pi[i] < 0 || pi[i] >= plane)
            throw py::value_error("max_pool2d backward: index " + std::to_string(pi[i]) + " outside the " +
                                  std::to_string(s.h) + "x" + std::to_string(s.w) + " input plane");
    py::gil_scoped_release nogil;
    if (dy.itemsize() == 4) cpu::max_pool2d_backward(s, ptr<float>(dy), pi, mut<float>(dx));
    else cpu::max_pool2d_backward(s, ptr<double>(dy), pi, mut<double>(dx));
}

void avg_forward(const py::array& x, py::array& y, Pair kernel, Pair stride, Pair padding, bool count_include_pad,
                 int64_t divisor_override) {
    const bool work = check_pair(x, "input", y, "out");
    const Pool2dShape s = window_shape(x, y, kernel, stride, padding, {1, 1});
    if (!work) return;
    py::gil_scoped_release nogil;
    if (x.itemsize() == 4) cpu::avg_pool2d_forward(s, count_include_pad, divisor_override, ptr<float>(x), mut<float>(y));
    else cpu::avg_pool2d_forward(s, count_include_pad, divisor_override, ptr<double>(x), mut<double>(y));
}

void avg_backward(const py::array& dy, py::array& dx, Pair kernel, Pair stride, Pair padding, bool count_include_pad,
                  int64_t divisor_override) {
    const bool work = check_pair(dy, "grad_output", dx, "grad_input");
    const Pool2dShape s = window_shape(dx, dy, kernel, stride, padding, {1, 1});
    if (!work) return;
    py::gil_scoped_release nogil;
    if (dy.itemsize() == 4) cpu::avg_pool2d_backward(s, count_include_pad, divisor_override, ptr<float>(dy), mut<float>(dx));
    else cpu::avg_pool2d_backward(s, count_include_pad, divisor_override, ptr<double>(dy), mut<double>(dx));
}

void adaptive_forward(const py::array& x, py::array& y) {
    const bool work = check_pair(x, "input", y, "out");
    const Pool2dShape s = planes_shape(x, y);
    if (!work) return;
    if (s.h == 0 || s.w == 0) throw py::value_error("adaptive_avg_pool2d: input " + shape_str(x) + " has an empty plane");
    py::gil_scoped_release nogil;
    if (x.itemsize() == 4) cpu::adaptive_avg_pool2d_forward(s, ptr<float>(x), mut<float>(y));
    else cpu::adaptive_avg_pool2d_forward(s, ptr<double>(x), mut<double>(y));
}

void adaptive_backward(const py::array& dy, py::array& dx) {
    const bool work = check_pair(dy, "grad_output", dx, "grad_input");
    const Pool2dShape s = planes_shape(dx, dy);
    if (!work) return;
    if (s.oh == 0 || s.ow == 0) return;
    py::gil_scoped_release nogil;
    if (dy.itemsize() == 4) cpu::adaptive_avg_pool2d_backward(s, ptr<float>(dy), mut<float>(dx));
    else cpu::adaptive_avg_pool2d_backward(s, ptr<double>(dy), mut<double>(dx));
}

}  // namespace

void register_pool(py::module_& m) {
    m.def("max_pool2d_forward", &max_forward, py::arg("input"), py::arg("out"), py::arg("indices"),
          py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
          "Max pooling of NCHW arrays into out, with int64 flat argmax indices per plane.");
    m.def("max_pool2d_backward", &max_backward, py::arg("grad_output"), py::arg("indices"), py::arg("grad_input"),
          "grad_input (overwritten) = grad_output scattered through the max-pool indices.");
    m.def("avg_pool2d_forward", &avg_forward, py::arg("input"), py::arg("out"), py::arg("kernel_size"),
          py::arg("stride"), py::arg("padding"), py::arg("count_include_pad"), py::arg("divisor_override"),
          "Average pooling of NCHW arrays into out (divisor_override <= 0: none).");
    m.def("avg_pool2d_backward", &avg_backward, py::arg("grad_output"), py::arg("grad_input"), py::arg("kernel_size"),
          py::arg("stride"), py::arg("padding"), py::arg("count_include_pad"), py::arg("divisor_override"),
          "grad_input (overwritten) of average pooling.");
    m.def("adaptive_avg_pool2d_forward", &adaptive_forward, py::arg("input"), py::arg("out"),
          "Adaptive average pooling of NCHW arrays to out's spatial size.");
    m.def("adaptive_avg_pool2d_backward", &adaptive_backward, py::arg("grad_output"), py::arg("grad_input"),
          "grad_input (overwritten) of adaptive average pooling.");
}

}  // namespace tf::bind
