// Python binding of the fused multi-tensor Adam / AdamW step (tensorforge/adam.h).
//
// adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, hypers, hyper_index) updates
// params, exp_avgs, exp_avg_sqs (and max_exp_avg_sqs for amsgrad entries) in place, in one pass
// over all tensors. Tensor i uses hypers[hyper_index[i]] (hyper_index None: all use hypers[0]).
// All arrays of one call share one dtype (float32 or float64) and are C-contiguous; the four
// (five) arrays of a tensor have its shape and do not overlap. The GIL is released during the step.
#include <tensorforge/adam.h>

#include <pybind11/stl.h>

#include <cmath>
#include <vector>

#include "array_checks.h"

namespace tf::bind {
namespace {

std::string item_name(const char* list, size_t i) { return std::string(list) + "[" + std::to_string(i) + "]"; }

void check_hyper(const AdamHyper& h, size_t index) {
    auto bad = [&](const std::string& what) {
        throw py::value_error("adam_step: hypers[" + std::to_string(index) + "]: " + what);
    };
    if (!(h.lr >= 0.0)) bad("invalid learning rate: " + std::to_string(h.lr));
    if (!(h.eps >= 0.0)) bad("invalid epsilon value: " + std::to_string(h.eps));
    if (!(h.beta1 >= 0.0 && h.beta1 < 1.0)) bad("invalid beta1 (must be in [0, 1)): " + std::to_string(h.beta1));
    if (!(h.beta2 >= 0.0 && h.beta2 < 1.0)) bad("invalid beta2 (must be in [0, 1)): " + std::to_string(h.beta2));
    if (!(h.weight_decay >= 0.0)) bad("invalid weight_decay value: " + std::to_string(h.weight_decay));
    if (h.step < 1) bad("step must be >= 1 (the count including this step), got " + std::to_string(h.step));
}

// The array at list[i], checked: ndarray of the call's dtype, C-contiguous, writeable if written.
py::array checked_array(py::handle obj, const char* list, size_t i, int dtype_num, bool written) {
    if (!py::isinstance<py::array>(obj))
        throw py::type_error("adam_step: " + item_name(list, i) + " must be a numpy array, got " +
                             std::string(py::str(py::type::of(obj))));
    auto a = py::reinterpret_borrow<py::array>(obj);
    if (a.dtype().num() != dtype_num)
        throw py::type_error("adam_step: " + item_name(list, i) + " has dtype " + std::string(py::str(a.dtype())) +
                             " but params[0] has dtype " + (dtype_num == py::dtype::of<float>().num() ? "float32" : "float64"));
    if (!(a.flags() & py::array::c_style))
        throw py::value_error("adam_step: " + item_name(list, i) + " must be C-contiguous (shape " + shape_str(a) + ")");
    if (written) require_writeable(a, item_name(list, i).c_str());
    return a;
}

void require_same_shape(const py::array& a, const py::array& p, const char* list, size_t i) {
    bool same = a.ndim() == p.ndim();
    for (py::ssize_t d = 0; same && d < a.ndim(); ++d) same = a.shape(d) == p.shape(d);
    if (!same)
        throw py::value_error("adam_step: " + item_name(list, i) + " has shape " + shape_str(a) + " but params[" +
                              std::to_string(i) + "] has shape " + shape_str(p));
}

template <typename T>
void run(const py::list& params, const py::list& grads, const py::list& exp_avgs, const py::list& exp_avg_sqs,
         const py::object& max_exp_avg_sqs, const std::vector<AdamHyper>& hypers, const std::vector<int64_t>& index) {
    const int dtype_num = py::dtype::of<T>().num();
    const size_t n = params.size();
    const py::list maxes = max_exp_avg_sqs.is_none() ? py::list() : max_exp_avg_sqs.cast<py::list>();
    std::vector<AdamTensor<T>> tensors(n);
    const char* names[5] = {"params", "grads", "exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs"};
    for (size_t i = 0; i < n; ++i) {
        const int64_t h = index.empty() ? 0 : index[i];
        if (h < 0 || h >= static_cast<int64_t>(hypers.size()))
            throw py::value_error("adam_step: hyper_index[" + std::to_string(i) + "] = " + std::to_string(h) +
                                  " is out of range for " + std::to_string(hypers.size()) + " hypers");
        py::array arrays[5];
        size_t count = 4;
        arrays[0] = checked_array(params[i], names[0], i, dtype_num, true);
        arrays[1] = checked_array(grads[i], names[1], i, dtype_num, false);
        arrays[2] = checked_array(exp_avgs[i], names[2], i, dtype_num, true);
        arrays[3] = checked_array(exp_avg_sqs[i], names[3], i, dtype_num, true);
        if (hypers[h].amsgrad) {
            if (max_exp_avg_sqs.is_none())
                throw py::value_error("adam_step: hypers[" + std::to_string(h) + "] has amsgrad but max_exp_avg_sqs is None");
            arrays[count++] = checked_array(maxes[i], names[4], i, dtype_num, true);
        }
        for (size_t j = 1; j < count; ++j) require_same_shape(arrays[j], arrays[0], names[j], i);
        // All are C-contiguous with one shape: each spans [data, data + nbytes).
        for (size_t j = 0; j < count; ++j)
            for (size_t k = j + 1; k < count; ++k) {
                const char *a = static_cast<const char*>(arrays[j].data()), *b = static_cast<const char*>(arrays[k].data());
                const py::ssize_t bytes = arrays[0].nbytes();
                if (bytes > 0 && a < b + bytes && b < a + bytes)
                    throw py::value_error("adam_step: " + item_name(names[j], i) + " overlaps " + item_name(names[k], i) +
                                          " in memory; every array must have its own storage");
            }
        AdamTensor<T>& t = tensors[i];
        t.param = static_cast<T*>(arrays[0].mutable_data());
        t.grad = static_cast<const T*>(arrays[1].data());
        t.exp_avg = static_cast<T*>(arrays[2].mutable_data());
        t.exp_avg_sq = static_cast<T*>(arrays[3].mutable_data());
        t.max_exp_avg_sq = count > 4 ? static_cast<T*>(arrays[4].mutable_data()) : nullptr;
        t.numel = arrays[0].size();
        t.hyper = h;
    }
    py::gil_scoped_release nogil;
    cpu::adam_step(hypers.data(), static_cast<int64_t>(hypers.size()), tensors.data(), static_cast<int64_t>(n));
}

void adam_step(const py::list& params, const py::list& grads, const py::list& exp_avgs, const py::list& exp_avg_sqs,
               const py::object& max_exp_avg_sqs, const std::vector<AdamHyper>& hypers,
               const std::optional<std::vector<int64_t>>& hyper_index) {
    const size_t n = params.size();
    bool same_len = grads.size() == n && exp_avgs.size() == n && exp_avg_sqs.size() == n;
    if (!max_exp_avg_sqs.is_none()) same_len = same_len && py::len(max_exp_avg_sqs) == n;
    if (hyper_index) same_len = same_len && hyper_index->size() == n;
    if (!same_len)
        throw py::value_error("adam_step: params, grads, exp_avgs, exp_avg_sqs (and max_exp_avg_sqs, hyper_index "
                              "when given) must have the same length; params has " + std::to_string(n));
    if (hypers.empty()) throw py::value_error("adam_step: hypers is empty");
    for (size_t h = 0; h < hypers.size(); ++h) check_hyper(hypers[h], h);
    if (n == 0) return;
    py::handle first = params[0];
    if (!py::isinstance<py::array>(first))
        throw py::type_error("adam_step: params[0] must be a numpy array, got " + std::string(py::str(py::type::of(first))));
    const std::vector<int64_t> index = hyper_index.value_or(std::vector<int64_t>{});
    auto p0 = py::reinterpret_borrow<py::array>(first);
    if (p0.dtype().num() == py::dtype::of<float>().num())
        run<float>(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, hypers, index);
    else if (p0.dtype().num() == py::dtype::of<double>().num())
        run<double>(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, hypers, index);
    else
        throw py::type_error("adam_step: params must be float32 or float64, got " + std::string(py::str(p0.dtype())));
}

}  // namespace

void register_adam(py::module_& m) {
    py::class_<AdamHyper>(m, "AdamHyper", "Hyper-parameters of one Adam / AdamW entry (see adam_step).")
        .def(py::init([](double lr, double beta1, double beta2, double eps, double weight_decay, int64_t step,
                         bool decoupled_weight_decay, bool amsgrad, bool maximize) {
                 return AdamHyper{lr, beta1, beta2, eps, weight_decay, step, decoupled_weight_decay, amsgrad, maximize};
             }),
             py::kw_only(), py::arg("lr") = 1e-3, py::arg("beta1") = 0.9, py::arg("beta2") = 0.999,
             py::arg("eps") = 1e-8, py::arg("weight_decay") = 0.0, py::arg("step") = 1,
             py::arg("decoupled_weight_decay") = false, py::arg("amsgrad") = false, py::arg("maximize") = false)
        .def_readwrite("lr", &AdamHyper::lr)
        .def_readwrite("beta1", &AdamHyper::beta1)
        .def_readwrite("beta2", &AdamHyper::beta2)
        .def_readwrite("eps", &AdamHyper::eps)
        .def_readwrite("weight_decay", &AdamHyper::weight_decay)
        .def_readwrite("step", &AdamHyper::step)
        .def_readwrite("decoupled_weight_decay", &AdamHyper::decoupled_weight_decay)
        .def_readwrite("amsgrad", &AdamHyper::amsgrad)
        .def_readwrite("maximize", &AdamHyper::maximize);
    m.def("adam_step", &adam_step, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
          py::arg("max_exp_avg_sqs") = py::none(), py::arg("hypers"), py::arg("hyper_index") = py::none(),
          "One fused Adam / AdamW step over lists of numpy arrays, in place (PyTorch's formula; see adam.h).");
}

}  // namespace tf::bind
