// Python bindings of the CUDA kernels, on any object exposing __cuda_array_interface__ (cupy
// arrays, torch CUDA tensors, numba device arrays). Compiled in every build: without CUDA the
// functions raise RuntimeError ("tensorforge was built without CUDA ...").
//
// Each call: parses the interface dict (shape, typestr, strides, data pointer, readonly flag),
// checks dtype, shape, strides, writeability and aliasing (TypeError / ValueError naming the
// argument), then that a device is visible (RuntimeError) and that every pointer is device
// memory of the current device (ValueError), then enqueues the kernel on `stream` (an integer
// cudaStream_t; tensorforge.cuda passes cupy's or torch's current stream) with the GIL
// released. The kernel runs asynchronously; errors inside it surface at the next synchronising
// call. The producer stream named by the interface (version 3 "stream" key) is not waited on:
// callers run everything on one stream, as the Python wrapper does.
#include <tensorforge/cuda_api.h>

#include "array_checks.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace tf::bind {
namespace {

void require_built() {
    if (!cuda::is_built())
        throw std::runtime_error(
            "tensorforge was built without CUDA, so its CUDA kernels are unavailable; rebuild with "
            "TENSORFORGE_CUDA=ON and nvcc on PATH (e.g. TENSORFORGE_CUDA=ON pip install .)");
}

// What we need from a __cuda_array_interface__ dict. Strides are in elements.
struct CudaArray {
    std::string name;
    uintptr_t ptr = 0;
    std::vector<int64_t> shape, strides;
    std::string typestr;
    int64_t itemsize = 0;
    bool readonly = false;
    int64_t size = 1;

    int ndim() const { return static_cast<int>(shape.size()); }
};

std::string shape_str(const std::vector<int64_t>& shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + (shape.size() == 1 ? ",)" : ")");
}

std::string dtype_name(const std::string& typestr) {
    static const std::pair<const char*, const char*> names[] = {
        {"<f4", "float32"}, {"<f8", "float64"}, {"<f2", "float16"}, {"<i8", "int64"}, {"<i4", "int32"},
        {"<u8", "uint64"},  {"<u4", "uint32"},  {"<i2", "int16"},   {"|i1", "int8"},  {"|u1", "uint8"},
        {"|b1", "bool"},    {"<V2", "bfloat16 (V2)"}, {"<c8", "complex64"}};
    for (const auto& [ts, nm] : names)
        if (typestr == ts) return nm;
    return "typestr '" + typestr + "'";
}

int64_t as_int64(py::handle h, const std::string& what) {
    if (!py::isinstance<py::int_>(h) || py::isinstance<py::bool_>(h))
        throw py::type_error(what + " must be an int, got " + std::string(py::str(py::type::of(h).attr("__name__"))));
    return h.cast<int64_t>();
}

CudaArray parse_cai(py::handle obj, const std::string& name) {
    if (!py::hasattr(obj, "__cuda_array_interface__"))
        throw py::type_error(name + " must be a CUDA array exposing __cuda_array_interface__ (a cupy array or a torch "
                                    "CUDA tensor), got " +
                             std::string(py::str(py::type::of(obj).attr("__name__"))));
    py::object iface = obj.attr("__cuda_array_interface__");
    if (!py::isinstance<py::dict>(iface))
        throw py::type_error(name + ".__cuda_array_interface__ must be a dict");
    py::dict d = iface.cast<py::dict>();
    for (const char* key : {"shape", "typestr", "data"})
        if (!d.contains(key))
            throw py::value_error(name + ".__cuda_array_interface__ has no '" + key + "' entry");
    if (d.contains("mask") && !d["mask"].is_none())
        throw py::value_error(name + " is a masked array; masked CUDA arrays are not supported");

    CudaArray a;
    a.name = name;
    py::object shape = d["shape"];
    if (!py::isinstance<py::tuple>(shape) && !py::isinstance<py::list>(shape))
        throw py::type_error(name + ".__cuda_array_interface__['shape'] must be a tuple");
    for (py::handle s : shape) {
        int64_t v = as_int64(s, name + " shape entry");
        if (v < 0) throw py::value_error(name + " has a negative dimension in shape");
        a.shape.push_back(v);
        a.size *= v;
    }
    py::object ts = d["typestr"];
    if (!py::isinstance<py::str>(ts)) throw py::type_error(name + ".__cuda_array_interface__['typestr'] must be a str");
    a.typestr = ts.cast<std::string>();
    if (a.typestr.size() < 3) throw py::value_error(name + " has a malformed typestr '" + a.typestr + "'");
    if (a.typestr[0] == '>')
        throw py::type_error(name + " is big-endian (" + a.typestr + "); only little-endian arrays are supported");
    try {
        a.itemsize = std::stoll(a.typestr.substr(2));
    } catch (const std::exception&) {
        throw py::value_error(name + " has a malformed typestr '" + a.typestr + "'");
    }
    if (a.itemsize <= 0) throw py::value_error(name + " has a malformed typestr '" + a.typestr + "'");
    if (a.typestr[0] == '=') a.typestr[0] = '<';  // native order on the little-endian hosts we support

    py::object data = d["data"];
    if (!py::isinstance<py::tuple>(data) || py::len(data) != 2)
        throw py::type_error(name + ".__cuda_array_interface__['data'] must be a (pointer, readonly) tuple");
    py::tuple dt = data.cast<py::tuple>();
    int64_t ptr = as_int64(dt[0], name + " data pointer");
    if (ptr < 0) throw py::value_error(name + " has a negative data pointer");
    a.ptr = static_cast<uintptr_t>(ptr);
    a.readonly = py::bool_(dt[1]);
    if (a.ptr == 0 && a.size > 0) throw py::value_error(name + " has a null data pointer");

    // Strides: None (or absent) means C-contiguous.
    py::object strides = d.contains("strides") ? py::object(d["strides"]) : py::object(py::none());
    a.strides.assign(a.shape.size(), 0);
    if (strides.is_none()) {
        int64_t st = 1;
        for (int i = a.ndim() - 1; i >= 0; --i) {
            a.strides[i] = st;
            st *= std::max<int64_t>(a.shape[i], 1);
        }
    } else {
        if (py::len(strides) != a.shape.size())
            throw py::value_error(name + " has " + std::to_string(py::len(strides)) + " strides for " +
                                  std::to_string(a.shape.size()) + " dimensions");
        int i = 0;
        for (py::handle s : strides) {
            int64_t bytes = as_int64(s, name + " stride");
            if (bytes % a.itemsize != 0)
                throw py::value_error(name + ": stride of " + std::to_string(bytes) + " bytes in dimension " +
                                      std::to_string(i) + " is not a multiple of the element size");
            a.strides[i++] = bytes / a.itemsize;
        }
    }
    return a;
}

void require_dtype(const CudaArray& a, const char* typestr, const char* what) {
    if (a.typestr != typestr)
        throw py::type_error(a.name + " must be " + what + ", got " + dtype_name(a.typestr) +
                             (a.typestr == "<f8" ? " (the CUDA kernels are float32 only so far)" : ""));
}

void require_ndim(const CudaArray& a, int lo, int hi) {
    if (a.ndim() < lo || a.ndim() > hi)
        throw py::value_error(a.name + " must have " + std::to_string(lo) + (lo == hi ? "" : " to " + std::to_string(hi)) +
                              " dimensions, got shape " + shape_str(a.shape));
}

void require_writeable(const CudaArray& a) {
    if (a.readonly) throw py::value_error(a.name + " is read-only; pass a writeable array");
}

bool c_contiguous(const CudaArray& a) {
    int64_t st = 1;
    for (int i = a.ndim() - 1; i >= 0; --i) {
        if (a.shape[i] != 1 && a.strides[i] != st) return false;
        st *= a.shape[i];
    }
    return true;
}

std::pair<uintptr_t, uintptr_t> byte_span(const CudaArray& a) {
    uintptr_t lo = a.ptr, hi = a.ptr;
    if (a.size == 0) return {lo, lo};
    for (int i = 0; i < a.ndim(); ++i) {
        int64_t extent = (a.shape[i] - 1) * a.strides[i] * a.itemsize;
        if (extent < 0) lo += extent; else hi += extent;
    }
    return {lo, hi + a.itemsize};
}

void require_no_overlap(const CudaArray& out, const CudaArray& in) {
    if (out.size == 0 || in.size == 0) return;
    auto [olo, ohi] = byte_span(out);
    auto [ilo, ihi] = byte_span(in);
    if (olo < ihi && ilo < ohi)
        throw py::value_error(out.name + " overlaps " + in.name + " in memory; pass separate arrays");
}

// After the structural checks: a device must be visible and each pointer must be device (or
// managed) memory of the current device, so that a numpy address or another GPU's array is a
// clear error instead of a fault.
void require_on_current_device(const std::vector<const CudaArray*>& arrays) {
    cuda::require_device();
    const int dev = cuda::current_device();
    for (const CudaArray* a : arrays) {
        if (a->size == 0) continue;
        const int where = cuda::pointer_device(a->ptr);
        if (where == -1)
            throw py::value_error(a->name + " is not in GPU memory (its data pointer is host or unknown memory)");
        if (where >= 0 && where != dev)
            throw py::value_error(a->name + " is on CUDA device " + std::to_string(where) + " but the current device is " +
                                  std::to_string(dev) + "; run under `with cupy.cuda.Device(" + std::to_string(where) +
                                  ")` or move the array");
    }
}

// ---------------------------------------------------------------------------------------------
// gemm

struct Operand {
    bool trans = false;
    int64_t ld = 0;
};

// Same rule as the CPU binding: a 2-D view is a BLAS operand when it is row-major with
// ld >= cols (no transpose) or column-major with ld >= rows (transpose); size-1 dims are free.
Operand operand_layout(const CudaArray& x, int row_dim) {
    const int64_t rows = x.shape[row_dim], cols = x.shape[row_dim + 1];
    const int64_t rs = x.strides[row_dim], cs = x.strides[row_dim + 1];
    if ((cols == 1 || cs == 1) && (rows == 1 || rs >= std::max<int64_t>(cols, 1)))
        return {false, rows == 1 ? std::max<int64_t>(cols, 1) : rs};
    if ((rows == 1 || rs == 1) && (cols == 1 || cs >= std::max<int64_t>(rows, 1)))
        return {true, cols == 1 ? std::max<int64_t>(rows, 1) : cs};
    throw py::value_error(x.name + " must be contiguous along one of its last two dimensions (shape " +
                          shape_str(x.shape) + "); make a contiguous copy first");
}

void cuda_gemm(py::handle a_obj, py::handle b_obj, py::handle out_obj, double alpha, double beta, uintptr_t stream) {
    require_built();
    CudaArray a = parse_cai(a_obj, "a"), b = parse_cai(b_obj, "b"), out = parse_cai(out_obj, "out");
    require_ndim(a, 2, 3);
    require_ndim(b, a.ndim(), a.ndim());
    require_ndim(out, a.ndim(), a.ndim());
    require_dtype(a, "<f4", "float32");
    require_dtype(b, "<f4", "float32");
    require_dtype(out, "<f4", "float32");
    require_writeable(out);
    const int rd = a.ndim() - 2;
    if (a.shape[rd + 1] != b.shape[rd] || out.shape[rd] != a.shape[rd] || out.shape[rd + 1] != b.shape[rd + 1] ||
        (rd == 1 && (b.shape[0] != a.shape[0] || out.shape[0] != a.shape[0])))
        throw py::value_error("gemm shape mismatch: a " + shape_str(a.shape) + " @ b " + shape_str(b.shape) +
                              " -> out " + shape_str(out.shape));
    if (out.size == 0) return;
    if (rd == 1 && out.shape[0] > 1 && out.strides[0] == 0)
        throw py::value_error("out has batch stride 0: every batch would write the same matrix");
    require_no_overlap(out, a);
    require_no_overlap(out, b);

    GemmShape s;
    s.m = a.shape[rd];
    s.k = a.shape[rd + 1];
    s.n = b.shape[rd + 1];
    GemmBatch batch;
    if (rd == 1) {
        batch.count = a.shape[0];
        batch.stride_a = a.strides[0];
        batch.stride_b = b.strides[0];
        batch.stride_c = out.strides[0];
        if (batch.stride_a < 0 || batch.stride_b < 0 || batch.stride_c < 0)
            throw py::value_error("negative batch strides are not supported");
    }
    if (s.k > 0) {  // with k == 0, A and B are never read and their layout does not matter
        Operand oa = operand_layout(a, rd), ob = operand_layout(b, rd);
        s.trans_a = oa.trans;
        s.trans_b = ob.trans;
        s.lda = oa.ld;
        s.ldb = ob.ld;
    } else {
        s.lda = 1;
        s.ldb = std::max<int64_t>(s.n, 1);
    }
    Operand oc = operand_layout(out, rd);
    if (oc.trans && s.m > 1)
        throw py::value_error("out must be row-major (unit stride along its last dimension), shape " +
                              shape_str(out.shape));
    s.ldc = oc.trans ? std::max<int64_t>(s.n, 1) : oc.ld;
    require_on_current_device({&a, &b, &out});
    py::gil_scoped_release nogil;
    cuda::gemm(s, static_cast<float>(alpha), a.ptr, b.ptr, static_cast<float>(beta), out.ptr, batch, stream);
}

// ---------------------------------------------------------------------------------------------
// Adam / AdamW

struct AdamLists {
    std::vector<CudaArray> p, g, m, v;
    int64_t total = 0;
};

AdamLists parse_adam_lists(const py::sequence& params, const py::sequence& grads, const py::sequence& exp_avgs,
                           const py::sequence& exp_avg_sqs) {
    const size_t n = py::len(params);
    if (py::len(grads) != n || py::len(exp_avgs) != n || py::len(exp_avg_sqs) != n)
        throw py::value_error("adam step: params, grads, exp_avgs and exp_avg_sqs must have the same length (got " +
                              std::to_string(n) + ", " + std::to_string(py::len(grads)) + ", " +
                              std::to_string(py::len(exp_avgs)) + ", " + std::to_string(py::len(exp_avg_sqs)) + ")");
    AdamLists L;
    const char* names[4] = {"params", "grads", "exp_avgs", "exp_avg_sqs"};
    const py::sequence* seqs[4] = {&params, &grads, &exp_avgs, &exp_avg_sqs};
    std::vector<CudaArray>* outs[4] = {&L.p, &L.g, &L.m, &L.v};
    for (size_t i = 0; i < n; ++i) {
        for (int j = 0; j < 4; ++j) {
            CudaArray a = parse_cai((*seqs[j])[i], std::string(names[j]) + "[" + std::to_string(i) + "]");
            require_dtype(a, "<f4", "float32");
            if (!c_contiguous(a)) throw py::value_error(a.name + " must be contiguous (shape " + shape_str(a.shape) + ")");
            if (j != 1) require_writeable(a);
            if (j > 0 && a.shape != L.p[i].shape)
                throw py::value_error(a.name + " has shape " + shape_str(a.shape) + " but params[" + std::to_string(i) +
                                      "] has shape " + shape_str(L.p[i].shape));
            outs[j]->push_back(std::move(a));
        }
        require_no_overlap(L.p[i], L.g[i]);
        require_no_overlap(L.p[i], L.m[i]);
        require_no_overlap(L.p[i], L.v[i]);
        require_no_overlap(L.m[i], L.v[i]);
        require_no_overlap(L.m[i], L.g[i]);
        require_no_overlap(L.v[i], L.g[i]);
        L.total += L.p[i].size;
    }
    return L;
}

// The host copy of the table the kernel reads: int64 (5, T) = param, grad, exp_avg, exp_avg_sq
// addresses and element counts.
py::array_t<int64_t> host_table(const AdamLists& L) {
    const int64_t T = static_cast<int64_t>(L.p.size());
    py::array_t<int64_t> t(std::vector<py::ssize_t>{5, static_cast<py::ssize_t>(T)});
    auto w = t.mutable_unchecked<2>();
    for (int64_t i = 0; i < T; ++i) {
        w(0, i) = static_cast<int64_t>(L.p[i].ptr);
        w(1, i) = static_cast<int64_t>(L.g[i].ptr);
        w(2, i) = static_cast<int64_t>(L.m[i].ptr);
        w(3, i) = static_cast<int64_t>(L.v[i].ptr);
        w(4, i) = L.p[i].size;
    }
    return t;
}

py::array_t<int64_t> cuda_adam_table(const py::sequence& params, const py::sequence& grads,
                                     const py::sequence& exp_avgs, const py::sequence& exp_avg_sqs) {
    require_built();
    return host_table(parse_adam_lists(params, grads, exp_avgs, exp_avg_sqs));
}

void cuda_adamw_step(const py::sequence& params, const py::sequence& grads, const py::sequence& exp_avgs,
                     const py::sequence& exp_avg_sqs, double lr, double beta1, double beta2, double eps,
                     double weight_decay, int64_t step, bool adamw, uintptr_t stream) {
    require_built();
    if (!(lr >= 0.0)) throw py::value_error("invalid learning rate: " + std::to_string(lr));
    if (!(eps >= 0.0)) throw py::value_error("invalid epsilon value: " + std::to_string(eps));
    if (!(beta1 >= 0.0 && beta1 < 1.0)) throw py::value_error("invalid beta1 (must be in [0, 1)): " + std::to_string(beta1));
    if (!(beta2 >= 0.0 && beta2 < 1.0)) throw py::value_error("invalid beta2 (must be in [0, 1)): " + std::to_string(beta2));
    if (!(weight_decay >= 0.0)) throw py::value_error("invalid weight_decay value: " + std::to_string(weight_decay));
    if (step < 1) throw py::value_error("step must be >= 1 (the count including this step), got " + std::to_string(step));
    AdamLists L = parse_adam_lists(params, grads, exp_avgs, exp_avg_sqs);
    const int64_t T = static_cast<int64_t>(L.p.size());
    if (T == 0 || L.total == 0) return;
    std::vector<const CudaArray*> all;
    for (int64_t i = 0; i < T; ++i) {
        all.push_back(&L.p[i]);
        all.push_back(&L.g[i]);
        all.push_back(&L.m[i]);
        all.push_back(&L.v[i]);
    }
    require_on_current_device(all);
    cuda::AdamArgs args;
    args.lr = lr;
    args.beta1 = beta1;
    args.beta2 = beta2;
    args.eps = eps;
    args.weight_decay = weight_decay;
    args.bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
    args.bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
    args.decoupled_weight_decay = adamw;
    if (!(args.bias_correction1 > 0.0) || !(args.bias_correction2 > 0.0))
        throw py::value_error("bias corrections 1 - beta^step are 0 (beta1 = " + std::to_string(beta1) +
                              ", beta2 = " + std::to_string(beta2) + ", step " + std::to_string(step) + ")");
    py::array_t<int64_t> host = host_table(L);
    const int64_t* h = host.data();
    py::gil_scoped_release nogil;
    // The table the kernel reads is always the one built from these very lists (cached on the
    // device by its contents, so repeated steps over the same tensors upload nothing).
    const uintptr_t table = cuda::cached_device_table(h, 5 * T);
    cuda::adam_step(args, table, T, L.total, stream);
}

}  // namespace

void register_cuda(py::module_& m) {
    m.def("cuda_gemm", &cuda_gemm, py::arg("a"), py::arg("b"), py::arg("out"), py::kw_only(), py::arg("alpha") = 1.0,
          py::arg("beta") = 0.0, py::arg("stream") = uintptr_t{0},
          "out = alpha * a @ b + beta * out on CUDA float32 arrays (2-D, or batched 3-D), enqueued on `stream`.");
    m.def("cuda_adam_table", &cuda_adam_table, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
          py::arg("exp_avg_sqs"),
          "Checks the four lists of CUDA float32 arrays and returns the host int64 (5, T) table the fused "
          "Adam kernel reads (addresses of params, grads, exp_avgs, exp_avg_sqs; element counts).");
    m.def("cuda_adamw_step", &cuda_adamw_step, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
          py::arg("exp_avg_sqs"), py::kw_only(), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
          py::arg("weight_decay"), py::arg("step"), py::arg("adamw") = true, py::arg("stream") = uintptr_t{0},
          "One fused Adam (adamw=False) / AdamW step over lists of CUDA float32 arrays, in place, one launch on "
          "`stream`; `step` counts this step (1 for the first).");
}

}  // namespace tf::bind
