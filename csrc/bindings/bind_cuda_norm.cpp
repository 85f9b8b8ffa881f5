// Python bindings of the CUDA LayerNorm and GELU kernels (layer_norm.cu, gelu.cu) on objects
// exposing __cuda_array_interface__; the checks and their errors are those of cuda_array.h.
// Every array is contiguous float32; the kernels run on `stream` with the GIL released.
#include <tensorforge/cuda_api.h>

#include "cuda_array.h"

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace tf::bind {
namespace {

// A contiguous float32 array of `size` elements (any shape); `size` < 0 accepts any size.
CudaArray f32_array(py::handle obj, const std::string& name, int64_t size, bool output) {
    CudaArray a = parse_cai(obj, name);
    require_dtype(a, "<f4", "float32");
    if (!c_contiguous(a)) throw py::value_error(name + " must be contiguous, got shape " + shape_str(a.shape));
    if (output) require_writeable(a);
    if (size >= 0 && a.size != size)
        throw py::value_error(name + " must have " + std::to_string(size) + " elements, got shape " +
                              shape_str(a.shape));
    return a;
}

std::optional<CudaArray> optional_f32(py::handle obj, const std::string& name, int64_t size, bool output) {
    if (obj.is_none()) return std::nullopt;
    return f32_array(obj, name, size, output);
}

uintptr_t ptr_or_0(const std::optional<CudaArray>& a) { return a ? a->ptr : 0; }

int64_t rows_of(const CudaArray& x, int64_t cols) {
    if (cols <= 0) throw py::value_error("normalized_size must be positive, got " + std::to_string(cols));
    if (x.size % cols != 0)
        throw py::value_error("x of shape " + shape_str(x.shape) + " cannot be normalized over its last " +
                              std::to_string(cols) + " elements");
    return x.size / cols;
}

void require_distinct_outputs(const std::vector<const CudaArray*>& outs, const std::vector<const CudaArray*>& ins) {
    for (size_t i = 0; i < outs.size(); ++i) {
        for (const CudaArray* in : ins) require_no_overlap(*outs[i], *in);
        for (size_t j = i + 1; j < outs.size(); ++j) require_no_overlap(*outs[i], *outs[j]);
    }
}

std::vector<const CudaArray*> present(std::initializer_list<const std::optional<CudaArray>*> xs) {
    std::vector<const CudaArray*> out;
    for (const auto* x : xs)
        if (*x) out.push_back(&**x);
    return out;
}

void cuda_layer_norm_forward(py::handle x_obj, int64_t normalized_size, py::handle gamma_obj, py::handle beta_obj,
                             py::handle y_obj, py::handle mean_obj, py::handle rstd_obj, double eps, uintptr_t stream) {
    require_built();
    CudaArray x = f32_array(x_obj, "x", -1, false);
    const int64_t rows = rows_of(x, normalized_size);
    auto gamma = optional_f32(gamma_obj, "weight", normalized_size, false);
    auto beta = optional_f32(beta_obj, "bias", normalized_size, false);
    CudaArray y = f32_array(y_obj, "y", x.size, true);
    CudaArray mean = f32_array(mean_obj, "mean", rows, true), rstd = f32_array(rstd_obj, "rstd", rows, true);
    std::vector<const CudaArray*> ins = present({&gamma, &beta});
    ins.push_back(&x);
    require_distinct_outputs({&y, &mean, &rstd}, ins);
    std::vector<const CudaArray*> all = ins;
    for (const CudaArray* o : {&y, &mean, &rstd}) all.push_back(o);
    require_on_current_device(all);
    py::gil_scoped_release nogil;
    cuda::layer_norm_forward(rows, normalized_size, static_cast<float>(eps), x.ptr, ptr_or_0(gamma), ptr_or_0(beta),
                             y.ptr, mean.ptr, rstd.ptr, stream);
}

void cuda_layer_norm_backward(py::handle x_obj, int64_t normalized_size, py::handle gamma_obj, py::handle mean_obj,
                              py::handle rstd_obj, py::handle dy_obj, py::handle dx_obj, py::handle dgamma_obj,
                              py::handle dbeta_obj, uintptr_t stream) {
    require_built();
    CudaArray x = f32_array(x_obj, "x", -1, false);
    const int64_t rows = rows_of(x, normalized_size);
    auto gamma = optional_f32(gamma_obj, "weight", normalized_size, false);
    CudaArray mean = f32_array(mean_obj, "mean", rows, false), rstd = f32_array(rstd_obj, "rstd", rows, false);
    CudaArray dy = f32_array(dy_obj, "grad_output", x.size, false);
    auto dx = optional_f32(dx_obj, "grad_input", x.size, true);
    auto dgamma = optional_f32(dgamma_obj, "grad_weight", normalized_size, true);
    auto dbeta = optional_f32(dbeta_obj, "grad_bias", normalized_size, true);
    std::vector<const CudaArray*> ins = present({&gamma});
    for (const CudaArray* i : {&x, &mean, &rstd, &dy}) ins.push_back(i);
    std::vector<const CudaArray*> outs = present({&dx, &dgamma, &dbeta});
    require_distinct_outputs(outs, ins);
    std::vector<const CudaArray*> all = ins;
    all.insert(all.end(), outs.begin(), outs.end());
    require_on_current_device(all);
    py::gil_scoped_release nogil;
    cuda::layer_norm_backward(rows, normalized_size, x.ptr, ptr_or_0(gamma), mean.ptr, rstd.ptr, dy.ptr, ptr_or_0(dx),
                              ptr_or_0(dgamma), ptr_or_0(dbeta), stream);
}

bool tanh_flag(const std::string& approximate) {
    if (approximate != "none" && approximate != "tanh")
        throw py::value_error("approximate must be 'none' or 'tanh', got '" + approximate + "'");
    return approximate == "tanh";
}

void cuda_gelu_forward(py::handle x_obj, py::handle y_obj, const std::string& approximate, uintptr_t stream) {
    require_built();
    const bool tanh_approx = tanh_flag(approximate);
    CudaArray x = f32_array(x_obj, "x", -1, false);
    CudaArray y = f32_array(y_obj, "y", x.size, true);
    require_distinct_outputs({&y}, {&x});
    require_on_current_device({&x, &y});
    py::gil_scoped_release nogil;
    cuda::gelu_forward(x.size, tanh_approx, x.ptr, y.ptr, stream);
}

void cuda_gelu_backward(py::handle x_obj, py::handle dy_obj, py::handle dx_obj, const std::string& approximate,
                        uintptr_t stream) {
    require_built();
    const bool tanh_approx = tanh_flag(approximate);
    CudaArray x = f32_array(x_obj, "x", -1, false);
    CudaArray dy = f32_array(dy_obj, "grad_output", x.size, false);
    CudaArray dx = f32_array(dx_obj, "grad_input", x.size, true);
    require_distinct_outputs({&dx}, {&x, &dy});
    require_on_current_device({&x, &dy, &dx});
    py::gil_scoped_release nogil;
    cuda::gelu_backward(x.size, tanh_approx, x.ptr, dy.ptr, dx.ptr, stream);
}

}  // namespace

void register_cuda_norm(py::module_& m) {
    m.def("cuda_layer_norm_forward", &cuda_layer_norm_forward, py::arg("x"), py::arg("normalized_size"),
          py::arg("weight"), py::arg("bias"), py::arg("y"), py::arg("mean"), py::arg("rstd"), py::kw_only(),
          py::arg("eps") = 1e-5, py::arg("stream") = uintptr_t{0},
          "LayerNorm of CUDA float32 x over its last `normalized_size` elements into y, saving mean and rstd "
          "(x.size / normalized_size each); weight and bias may be None.");
    m.def("cuda_layer_norm_backward", &cuda_layer_norm_backward, py::arg("x"), py::arg("normalized_size"),
          py::arg("weight"), py::arg("mean"), py::arg("rstd"), py::arg("grad_output"), py::arg("grad_input"),
          py::arg("grad_weight"), py::arg("grad_bias"), py::kw_only(), py::arg("stream") = uintptr_t{0},
          "LayerNorm backward from the saved mean and rstd; any of grad_input, grad_weight, grad_bias may be None "
          "(not computed). grad_weight / grad_bias are summed with atomics (not bitwise reproducible).");
    m.def("cuda_gelu_forward", &cuda_gelu_forward, py::arg("x"), py::arg("y"), py::kw_only(),
          py::arg("approximate") = "none", py::arg("stream") = uintptr_t{0},
          "y = gelu(x) on contiguous CUDA float32 arrays (approximate 'none' or 'tanh').");
    m.def("cuda_gelu_backward", &cuda_gelu_backward, py::arg("x"), py::arg("grad_output"), py::arg("grad_input"),
          py::kw_only(), py::arg("approximate") = "none", py::arg("stream") = uintptr_t{0},
          "grad_input = gelu'(x) * grad_output on contiguous CUDA float32 arrays.");
}

}  // namespace tf::bind
