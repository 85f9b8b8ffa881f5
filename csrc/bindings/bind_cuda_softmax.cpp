// Python bindings of the CUDA softmax / log-softmax and fused cross-entropy kernels (softmax.cu,
// cross_entropy.cu) on objects exposing __cuda_array_interface__; the checks and their errors are
// those of cuda_array.h. Arrays are contiguous; the kernels run on `stream` with the GIL released.
#include <tensorforge/cuda_api.h>

#include "cuda_array.h"

#include <optional>
#include <string>
#include <vector>

namespace tf::bind {
namespace {

// A contiguous array of dtype `typestr` (`dtype` names it in errors), writeable when an output.
CudaArray dense(py::handle obj, const std::string& name, const char* typestr, const char* dtype, bool output) {
    CudaArray a = parse_cai(obj, name);
    require_dtype(a, typestr, dtype);
    if (!c_contiguous(a)) throw py::value_error(name + " must be contiguous, got shape " + shape_str(a.shape));
    if (output) require_writeable(a);
    return a;
}

void require_shape(const CudaArray& a, const std::vector<int64_t>& shape) {
    if (a.shape != shape)
        throw py::value_error(a.name + " must have shape " + shape_str(shape) + ", got " + shape_str(a.shape));
}

// The (rows, cols) view of an array whose softmax runs over its last dimension.
std::pair<int64_t, int64_t> rows_cols(const CudaArray& x) {
    if (x.ndim() == 0) throw py::value_error(x.name + " must have at least one dimension, got a scalar");
    const int64_t cols = x.shape.back();
    return {cols == 0 ? 0 : x.size / cols, cols};
}

void require_distinct(const std::vector<const CudaArray*>& outs, const std::vector<const CudaArray*>& ins) {
    for (size_t i = 0; i < outs.size(); ++i) {
        for (const CudaArray* in : ins) require_no_overlap(*outs[i], *in);
        for (size_t j = i + 1; j < outs.size(); ++j) require_no_overlap(*outs[i], *outs[j]);
    }
}

void cuda_softmax_forward(py::handle x_obj, py::handle y_obj, bool log, uintptr_t stream) {
    require_built();
    CudaArray x = dense(x_obj, "x", "<f4", "float32", false);
    CudaArray y = dense(y_obj, "y", "<f4", "float32", true);
    require_shape(y, x.shape);
    const auto [rows, cols] = rows_cols(x);
    require_distinct({&y}, {&x});
    require_on_current_device({&x, &y});
    py::gil_scoped_release nogil;
    cuda::softmax_forward(rows, cols, log, x.ptr, y.ptr, stream);
}

void cuda_softmax_backward(py::handle y_obj, py::handle dy_obj, py::handle dx_obj, bool log, uintptr_t stream) {
    require_built();
    CudaArray y = dense(y_obj, "y", "<f4", "float32", false);
    CudaArray dy = dense(dy_obj, "grad_output", "<f4", "float32", false);
    CudaArray dx = dense(dx_obj, "grad_input", "<f4", "float32", true);
    require_shape(dy, y.shape);
    require_shape(dx, y.shape);
    const auto [rows, cols] = rows_cols(y);
    require_distinct({&dx}, {&y, &dy});
    require_on_current_device({&y, &dy, &dx});
    py::gil_scoped_release nogil;
    cuda::softmax_backward(rows, cols, log, y.ptr, dy.ptr, dx.ptr, stream);
}

struct CeInputs {
    CudaArray x, target;
    std::optional<CudaArray> weight;
    cuda::CrossEntropyArgs args;
};

CeInputs ce_inputs(py::handle x_obj, py::handle target_obj, py::handle weight_obj, int64_t ignore_index,
                   double label_smoothing) {
    CeInputs in{dense(x_obj, "input", "<f4", "float32", false), dense(target_obj, "target", "<i8", "int64", false),
                std::nullopt, {}};
    if (in.x.ndim() != 2)
        throw py::value_error("input must be 2-D (N, C) logits, got shape " + shape_str(in.x.shape));
    const int64_t rows = in.x.shape[0], classes = in.x.shape[1];
    require_shape(in.target, {rows});
    if (rows > 0 && classes == 0) throw py::value_error("input has no classes (shape " + shape_str(in.x.shape) + ")");
    if (!weight_obj.is_none()) {
        in.weight = dense(weight_obj, "weight", "<f4", "float32", false);
        require_shape(*in.weight, {classes});
    }
    if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
        throw py::value_error("label_smoothing must be in [0, 1], got " + std::to_string(label_smoothing));
    in.args.rows = rows;
    in.args.classes = classes;
    in.args.ignore_index = ignore_index;
    in.args.label_smoothing = static_cast<float>(label_smoothing);
    return in;
}

std::vector<const CudaArray*> ce_input_list(const CeInputs& in) {
    std::vector<const CudaArray*> v{&in.x, &in.target};
    if (in.weight) v.push_back(&*in.weight);
    return v;
}

void cuda_cross_entropy_forward(py::handle x_obj, py::handle target_obj, py::handle weight_obj, py::handle loss_obj,
                                py::handle stats_obj, py::handle row_weight_obj, py::handle bad_row_obj,
                                int64_t ignore_index, double label_smoothing, uintptr_t stream) {
    require_built();
    CeInputs in = ce_inputs(x_obj, target_obj, weight_obj, ignore_index, label_smoothing);
    const int64_t rows = in.args.rows;
    CudaArray loss = dense(loss_obj, "loss", "<f4", "float32", true);
    CudaArray stats = dense(stats_obj, "stats", "<f4", "float32", true);
    CudaArray row_weight = dense(row_weight_obj, "row_weight", "<f4", "float32", true);
    CudaArray bad_row = dense(bad_row_obj, "bad_row", "<i8", "int64", true);
    require_shape(loss, {rows});
    require_shape(stats, {rows, 2});
    require_shape(row_weight, {rows});
    require_shape(bad_row, {1});
    std::vector<const CudaArray*> ins = ce_input_list(in);
    require_distinct({&loss, &stats, &row_weight, &bad_row}, ins);
    std::vector<const CudaArray*> all = ins;
    for (const CudaArray* o : {&loss, &stats, &row_weight, &bad_row}) all.push_back(o);
    require_on_current_device(all);
    py::gil_scoped_release nogil;
    cuda::cross_entropy_forward(in.args, in.x.ptr, in.target.ptr, in.weight ? in.weight->ptr : 0, loss.ptr, stats.ptr,
                                row_weight.ptr, bad_row.ptr, stream);
}

void cuda_cross_entropy_backward(py::handle x_obj, py::handle target_obj, py::handle weight_obj, py::handle stats_obj,
                                 py::handle grad_obj, py::handle dx_obj, int64_t ignore_index, double label_smoothing,
                                 uintptr_t stream) {
    require_built();
    CeInputs in = ce_inputs(x_obj, target_obj, weight_obj, ignore_index, label_smoothing);
    const int64_t rows = in.args.rows;
    CudaArray stats = dense(stats_obj, "stats", "<f4", "float32", false);
    CudaArray grad = dense(grad_obj, "grad_output", "<f4", "float32", false);
    CudaArray dx = dense(dx_obj, "grad_input", "<f4", "float32", true);
    require_shape(stats, {rows, 2});
    require_shape(dx, in.x.shape);
    const int64_t grad_stride = grad.ndim() == 0 ? 0 : 1;  // a 0-d grad_output holds one value for every row
    if (grad_stride == 1 && grad.shape != std::vector<int64_t>{rows})
        throw py::value_error("grad_output must be 0-d (one value) or have shape " + shape_str({rows}) + ", got " +
                              shape_str(grad.shape));
    std::vector<const CudaArray*> ins = ce_input_list(in);
    ins.push_back(&stats);
    ins.push_back(&grad);
    require_distinct({&dx}, ins);
    std::vector<const CudaArray*> all = ins;
    all.push_back(&dx);
    require_on_current_device(all);
    py::gil_scoped_release nogil;
    cuda::cross_entropy_backward(in.args, in.x.ptr, in.target.ptr, in.weight ? in.weight->ptr : 0, stats.ptr, grad.ptr,
                                 grad_stride, dx.ptr, stream);
}

}  // namespace

void register_cuda_softmax(py::module_& m) {
    m.def("cuda_softmax_forward", &cuda_softmax_forward, py::arg("x"), py::arg("y"), py::kw_only(),
          py::arg("log") = false, py::arg("stream") = uintptr_t{0},
          "y = softmax(x) (log=True: log_softmax) over the last dimension of contiguous CUDA float32 arrays.");
    m.def("cuda_softmax_backward", &cuda_softmax_backward, py::arg("y"), py::arg("grad_output"),
          py::arg("grad_input"), py::kw_only(), py::arg("log") = false, py::arg("stream") = uintptr_t{0},
          "grad_input of softmax (log=True: log_softmax) over the last dimension, from the forward's output y.");
    m.def("cuda_cross_entropy_forward", &cuda_cross_entropy_forward, py::arg("input"), py::arg("target"),
          py::arg("weight"), py::arg("loss"), py::arg("stats"), py::arg("row_weight"), py::arg("bad_row"),
          py::kw_only(), py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0,
          py::arg("stream") = uintptr_t{0},
          "Per-row cross-entropy of (N, C) float32 logits against int64 class indices into loss (N,), with the "
          "row max and log-normaliser in stats (N, 2), weight[target] (0 if ignored) in row_weight (N,), and the "
          "first row with an out-of-range target in bad_row (1,) int64 (-1: none; read it after the call).");
    m.def("cuda_cross_entropy_backward", &cuda_cross_entropy_backward, py::arg("input"), py::arg("target"),
          py::arg("weight"), py::arg("stats"), py::arg("grad_output"), py::arg("grad_input"), py::kw_only(),
          py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0, py::arg("stream") = uintptr_t{0},
          "grad_input (N, C) of the per-row cross-entropy from the forward's stats; grad_output is (N,) or one "
          "value (0-d) for every row.");
}

}  // namespace tf::bind
