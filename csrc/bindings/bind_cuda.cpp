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
#include "cuda_array.h"

#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tf::bind {
namespace {

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

void cuda_gemm(py::handle a_obj, py::handle b_obj, py::handle out_obj, double alpha, double beta, uintptr_t stream,
               const std::string& precision, const std::string& tensor_core) {
    require_built();
    if (precision != "highest" && precision != "high" && precision != "medium")
        throw py::value_error("gemm: precision must be 'highest' (fp32), 'high' (tf32 tensor cores) or 'medium' "
                              "(bf16 tensor cores), got '" + precision + "'");
    if (tensor_core != "auto" && tensor_core != "wgmma" && tensor_core != "mma_sync")
        throw py::value_error("gemm: tensor_core must be 'auto', 'wgmma' or 'mma_sync', got '" + tensor_core + "'");
    if (tensor_core != "auto" && precision == "highest")
        throw py::value_error("gemm: tensor_core='" + tensor_core + "' needs precision 'high' or 'medium' (the "
                              "'highest' precision runs the fp32 kernel, not the tensor cores)");
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
    // The tensor-core kernel: wgmma where this device runs our sm_90a code (Hopper), else mma.sync.
    const bool wgmma = precision != "highest" && tensor_core != "mma_sync" &&
                       (tensor_core == "wgmma" || cuda::wgmma_available());
    py::gil_scoped_release nogil;
    const auto tc = precision == "high" ? cuda::MatmulPrecision::tf32 : cuda::MatmulPrecision::bf16;
    if (precision == "highest")
        cuda::gemm(s, static_cast<float>(alpha), a.ptr, b.ptr, static_cast<float>(beta), out.ptr, batch, stream);
    else if (wgmma)
        cuda::gemm_wgmma(s, static_cast<float>(alpha), a.ptr, b.ptr, static_cast<float>(beta), out.ptr, batch, tc, stream);
    else
        cuda::gemm_tensor_core(s, static_cast<float>(alpha), a.ptr, b.ptr, static_cast<float>(beta), out.ptr, batch, tc,
                               stream);
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


// ---------------------------------------------------------------------------------------------
// conv2d and pooling: dense NCHW float32 arrays; the output shape gives oh / ow (as the CPU
// bindings), the kernels never read or write outside the arrays whatever oh / ow are.

using Pair = std::array<int64_t, 2>;

void require_dense4(const CudaArray& a, const char* typestr = "<f4", const char* what = "float32") {
    require_ndim(a, 4, 4);
    require_dtype(a, typestr, what);
    if (!c_contiguous(a))
        throw py::value_error(a.name + " must be C-contiguous (shape " + shape_str(a.shape) + "); make a copy first");
}

Conv2dShape cuda_conv_shape(const CudaArray& x, const CudaArray& w, const CudaArray& y, Pair stride, Pair padding,
                            Pair dilation, int64_t groups) {
    for (int i = 0; i < 2; ++i) {
        if (stride[i] < 1) throw py::value_error("conv2d: stride must be >= 1, got " + std::to_string(stride[i]));
        if (dilation[i] < 1) throw py::value_error("conv2d: dilation must be >= 1, got " + std::to_string(dilation[i]));
        if (padding[i] < 0) throw py::value_error("conv2d: padding must be >= 0, got " + std::to_string(padding[i]));
    }
    if (groups < 1) throw py::value_error("conv2d: groups must be >= 1, got " + std::to_string(groups));
    Conv2dShape s;
    s.n = x.shape[0], s.c_in = x.shape[1], s.h = x.shape[2], s.w = x.shape[3];
    s.c_out = w.shape[0], s.kh = w.shape[2], s.kw = w.shape[3];
    s.oh = y.shape[2], s.ow = y.shape[3];
    s.stride_h = stride[0], s.stride_w = stride[1], s.pad_h = padding[0], s.pad_w = padding[1];
    s.dil_h = dilation[0], s.dil_w = dilation[1], s.groups = groups;
    if (s.c_in % groups || s.c_out % groups)
        throw py::value_error("conv2d: groups=" + std::to_string(groups) + " must divide in_channels (" +
                              std::to_string(s.c_in) + ") and out_channels (" + std::to_string(s.c_out) + ")");
    if (w.shape[1] * groups != s.c_in)
        throw py::value_error("conv2d: weight " + shape_str(w.shape) + " with groups=" + std::to_string(groups) +
                              " expects " + std::to_string(w.shape[1] * groups) + " input channels, input is " +
                              shape_str(x.shape));
    if (y.shape[0] != s.n || y.shape[1] != s.c_out)
        throw py::value_error("conv2d: output " + shape_str(y.shape) + " does not match input " + shape_str(x.shape) +
                              " and weight " + shape_str(w.shape));
    return s;
}

void cuda_conv2d_forward(py::handle x_obj, py::handle w_obj, py::handle bias_obj, py::handle y_obj, Pair stride,
                         Pair padding, Pair dilation, int64_t groups, uintptr_t stream) {
    require_built();
    CudaArray x = parse_cai(x_obj, "input"), w = parse_cai(w_obj, "weight"), y = parse_cai(y_obj, "out");
    require_dense4(x);
    require_dense4(w);
    require_dense4(y);
    require_writeable(y);
    const Conv2dShape s = cuda_conv_shape(x, w, y, stride, padding, dilation, groups);
    CudaArray bias;
    const bool has_bias = !bias_obj.is_none();
    if (has_bias) {
        bias = parse_cai(bias_obj, "bias");
        require_ndim(bias, 1, 1);
        require_dtype(bias, "<f4", "float32");
        if (bias.shape[0] != s.c_out || !c_contiguous(bias))
            throw py::value_error("bias must be a contiguous (" + std::to_string(s.c_out) + ",) array, got shape " +
                                  shape_str(bias.shape));
        require_no_overlap(y, bias);
    }
    require_no_overlap(y, x);
    require_no_overlap(y, w);
    if (y.size == 0) return;
    std::vector<const CudaArray*> all = {&x, &w, &y};
    if (has_bias) all.push_back(&bias);
    require_on_current_device(all);
    py::gil_scoped_release nogil;
    cuda::conv2d_forward(s, x.ptr, w.ptr, has_bias ? bias.ptr : 0, y.ptr, stream);
}

void cuda_conv2d_grad_input(py::handle dy_obj, py::handle w_obj, py::handle dx_obj, Pair stride, Pair padding,
                            Pair dilation, int64_t groups, uintptr_t stream) {
    require_built();
    CudaArray dy = parse_cai(dy_obj, "grad_output"), w = parse_cai(w_obj, "weight"),
              dx = parse_cai(dx_obj, "grad_input");
    require_dense4(dy);
    require_dense4(w);
    require_dense4(dx);
    require_writeable(dx);
    const Conv2dShape s = cuda_conv_shape(dx, w, dy, stride, padding, dilation, groups);
    require_no_overlap(dx, dy);
    require_no_overlap(dx, w);
    if (dx.size == 0) return;
    require_on_current_device({&dy, &w, &dx});
    py::gil_scoped_release nogil;
    cuda::conv2d_grad_input(s, dy.ptr, w.ptr, dx.ptr, stream);
}

void cuda_conv2d_grad_weight(py::handle x_obj, py::handle dy_obj, py::handle dw_obj, Pair stride, Pair padding,
                             Pair dilation, int64_t groups, uintptr_t stream) {
    require_built();
    CudaArray x = parse_cai(x_obj, "input"), dy = parse_cai(dy_obj, "grad_output"),
              dw = parse_cai(dw_obj, "grad_weight");
    require_dense4(x);
    require_dense4(dy);
    require_dense4(dw);
    require_writeable(dw);
    const Conv2dShape s = cuda_conv_shape(x, dw, dy, stride, padding, dilation, groups);
    require_no_overlap(dw, x);
    require_no_overlap(dw, dy);
    if (dw.size == 0) return;
    require_on_current_device({&x, &dy, &dw});
    py::gil_scoped_release nogil;
    cuda::conv2d_grad_weight(s, x.ptr, dy.ptr, dw.ptr, stream);
}

Pool2dShape cuda_pool_shape(const CudaArray& x, const CudaArray& y, Pair kernel, Pair stride, Pair padding,
                            Pair dilation) {
    for (int i = 0; i < 2; ++i)
        if (kernel[i] < 1 || stride[i] < 1 || dilation[i] < 1 || padding[i] < 0)
            throw py::value_error("pooling: kernel_size, stride and dilation must be >= 1 and padding >= 0");
    if (x.shape[0] != y.shape[0] || x.shape[1] != y.shape[1])
        throw py::value_error("pooling: output " + shape_str(y.shape) + " does not match input " + shape_str(x.shape) +
                              " in batch and channels");
    Pool2dShape s;
    s.planes = x.shape[0] * x.shape[1], s.h = x.shape[2], s.w = x.shape[3], s.oh = y.shape[2], s.ow = y.shape[3];
    s.kh = kernel[0], s.kw = kernel[1], s.stride_h = stride[0], s.stride_w = stride[1];
    s.pad_h = padding[0], s.pad_w = padding[1], s.dil_h = dilation[0], s.dil_w = dilation[1];
    return s;
}

void require_indices(const CudaArray& idx, const CudaArray& y) {
    require_dense4(idx, "<i8", "int64");
    if (idx.shape != y.shape)
        throw py::value_error("indices has shape " + shape_str(idx.shape) + " but the pooled output has shape " +
                              shape_str(y.shape));
}

void cuda_max_pool2d_forward(py::handle x_obj, py::handle y_obj, py::handle idx_obj, Pair kernel, Pair stride,
                             Pair padding, Pair dilation, uintptr_t stream) {
    require_built();
    CudaArray x = parse_cai(x_obj, "input"), y = parse_cai(y_obj, "out"), idx = parse_cai(idx_obj, "indices");
    require_dense4(x);
    require_dense4(y);
    require_indices(idx, y);
    require_writeable(y);
    require_writeable(idx);
    const Pool2dShape s = cuda_pool_shape(x, y, kernel, stride, padding, dilation);
    require_no_overlap(y, x);
    require_no_overlap(idx, x);
    require_no_overlap(idx, y);
    if (y.size == 0) return;
    require_on_current_device({&x, &y, &idx});
    py::gil_scoped_release nogil;
    cuda::max_pool2d_forward(s, x.ptr, y.ptr, idx.ptr, stream);
}

void cuda_max_pool2d_backward(py::handle dy_obj, py::handle idx_obj, py::handle dx_obj, Pair kernel, Pair stride,
                              Pair padding, Pair dilation, uintptr_t stream) {
    require_built();
    CudaArray dy = parse_cai(dy_obj, "grad_output"), idx = parse_cai(idx_obj, "indices"),
              dx = parse_cai(dx_obj, "grad_input");
    require_dense4(dy);
    require_dense4(dx);
    require_indices(idx, dy);
    require_writeable(dx);
    const Pool2dShape s = cuda_pool_shape(dx, dy, kernel, stride, padding, dilation);
    require_no_overlap(dx, dy);
    require_no_overlap(dx, idx);
    if (dx.size == 0) return;
    require_on_current_device({&dy, &idx, &dx});
    py::gil_scoped_release nogil;
    cuda::max_pool2d_backward(s, dy.ptr, idx.ptr, dx.ptr, stream);
}

void cuda_avg_pool2d(bool forward, py::handle in_obj, py::handle out_obj, Pair kernel, Pair stride, Pair padding,
                     bool count_include_pad, std::optional<int64_t> divisor_override, uintptr_t stream) {
    require_built();
    CudaArray in = parse_cai(in_obj, forward ? "input" : "grad_output");
    CudaArray out = parse_cai(out_obj, forward ? "out" : "grad_input");
    require_dense4(in);
    require_dense4(out);
    require_writeable(out);
    const int64_t div = divisor_override.value_or(0);
    if (divisor_override && div <= 0) throw py::value_error("divisor_override must be > 0");
    const Pool2dShape s = forward ? cuda_pool_shape(in, out, kernel, stride, padding, {1, 1})
                                  : cuda_pool_shape(out, in, kernel, stride, padding, {1, 1});
    require_no_overlap(out, in);
    if (out.size == 0) return;
    require_on_current_device({&in, &out});
    py::gil_scoped_release nogil;
    if (forward) cuda::avg_pool2d_forward(s, count_include_pad, div, in.ptr, out.ptr, stream);
    else cuda::avg_pool2d_backward(s, count_include_pad, div, in.ptr, out.ptr, stream);
}

// ---------------------------------------------------------------------------------------------
// attention: q, out, grads of q (b, h, l, e); k, v and their grads (b, h, s, e); any strides with
// a unit stride along e; mask float32 or bool, broadcastable to (b, h, l, s) by its strides.

cuda::AttnStrides attn_operand(const CudaArray& a, int64_t b, int64_t h, int64_t rows, int64_t e, bool write) {
    require_ndim(a, 4, 4);
    require_dtype(a, "<f4", "float32");
    if (a.shape[0] != b || a.shape[1] != h || a.shape[2] != rows || a.shape[3] != e)
        throw py::value_error(a.name + " has shape " + shape_str(a.shape) + ", expected " +
                              shape_str({b, h, rows, e}));
    if (e > 1 && a.strides[3] != 1)
        throw py::value_error(a.name + " must be contiguous along its last dimension; make a copy first");
    for (int i = 0; i < 3; ++i)
        if (a.strides[i] < 0) throw py::value_error(a.name + " has a negative stride");
    if (write) {
        require_writeable(a);
        if ((b > 1 && a.strides[0] == 0) || (h > 1 && a.strides[1] == 0) || (rows > 1 && a.strides[2] == 0))
            throw py::value_error(a.name + " has a zero stride: several rows would be written to one place");
    }
    return {a.strides[0], a.strides[1], a.strides[2]};
}

struct AttnCall {
    cuda::AttentionArgs args;
    CudaArray q, k, v, mask;
    bool has_mask = false;
};

AttnCall attn_setup(py::handle q_obj, py::handle k_obj, py::handle v_obj, py::handle mask_obj,
                    std::optional<double> scale, bool is_causal) {
    AttnCall c;
    c.q = parse_cai(q_obj, "query");
    c.k = parse_cai(k_obj, "key");
    c.v = parse_cai(v_obj, "value");
    require_ndim(c.q, 4, 4);
    require_ndim(c.k, 4, 4);
    cuda::AttentionArgs& a = c.args;
    a.batch = c.q.shape[0], a.heads = c.q.shape[1], a.l = c.q.shape[2], a.e = c.q.shape[3], a.s = c.k.shape[2];
    if (a.e > 128) throw py::value_error("attention: head dimension " + std::to_string(a.e) + " > 128 is not supported");
    a.q = attn_operand(c.q, a.batch, a.heads, a.l, a.e, false);
    a.k = attn_operand(c.k, a.batch, a.heads, a.s, a.e, false);
    a.v = attn_operand(c.v, a.batch, a.heads, a.s, a.e, false);
    a.scale = static_cast<float>(scale ? *scale : (a.e > 0 ? 1.0 / std::sqrt(double(a.e)) : 1.0));
    a.causal = is_causal;
    if (!mask_obj.is_none()) {
        c.has_mask = true;
        c.mask = parse_cai(mask_obj, "attn_mask");
        require_ndim(c.mask, 0, 4);
        if (c.mask.typestr == "|b1") a.mask_kind = 2;
        else if (c.mask.typestr == "<f4") a.mask_kind = 1;
        else throw py::type_error("attn_mask must be float32 or bool, got " + dtype_name(c.mask.typestr));
        const int64_t full[4] = {a.batch, a.heads, a.l, a.s};
        const int off = 4 - c.mask.ndim();
        for (int i = 0; i < 4; ++i) {
            if (i < off) continue;
            const int64_t n = c.mask.shape[i - off];
            if (n != full[i] && n != 1)
                throw py::value_error("attn_mask of shape " + shape_str(c.mask.shape) + " does not broadcast to " +
                                      shape_str({a.batch, a.heads, a.l, a.s}));
            a.mask_stride[i] = n == 1 ? 0 : c.mask.strides[i - off];
            if (a.mask_stride[i] < 0) throw py::value_error("attn_mask has a negative stride");
        }
    }
    return c;
}

// precision "highest" runs the fp32 kernels; "high" / "medium" allow tf32 / bf16 products on the tensor
// cores (PyTorch's float32_matmul_precision names).
void check_attn_precision(const std::string& precision) {
    if (precision != "highest" && precision != "high" && precision != "medium")
        throw py::value_error("attention: precision must be 'highest' (fp32), 'high' (tf32 tensor cores) or "
                              "'medium' (bf16 tensor cores), got '" + precision + "'");
}

// Whether the tensor-core kernels take a call at `precision`: where attention_tc_supported (head dim, GPU);
// elsewhere the fp32 kernels run, as for "highest".
bool attn_tensor_cores(const std::string& precision, int64_t e, cuda::MatmulPrecision& prec) {
    if (precision == "highest") return false;
    prec = precision == "high" ? cuda::MatmulPrecision::tf32 : cuda::MatmulPrecision::bf16;
    return cuda::attention_tc_supported(e, prec);
}

void cuda_attention_forward(py::handle q_obj, py::handle k_obj, py::handle v_obj, py::handle mask_obj,
                            py::handle out_obj, py::handle lse_obj, std::optional<double> scale, bool is_causal,
                            uintptr_t stream, const std::string& precision) {
    require_built();
    check_attn_precision(precision);
    AttnCall c = attn_setup(q_obj, k_obj, v_obj, mask_obj, scale, is_causal);
    cuda::AttentionArgs& a = c.args;
    CudaArray out = parse_cai(out_obj, "out"), lse = parse_cai(lse_obj, "lse");
    a.o = attn_operand(out, a.batch, a.heads, a.l, a.e, true);
    require_dtype(lse, "<f4", "float32");
    if (lse.shape != std::vector<int64_t>{a.batch, a.heads, a.l} || !c_contiguous(lse))
        throw py::value_error("lse must be a contiguous float32 array of shape " + shape_str({a.batch, a.heads, a.l}) +
                              ", got " + shape_str(lse.shape));
    require_writeable(lse);
    for (const CudaArray* in : {&c.q, &c.k, &c.v}) {
        require_no_overlap(out, *in);
        require_no_overlap(lse, *in);
    }
    require_no_overlap(lse, out);
    if (c.has_mask) {
        require_no_overlap(out, c.mask);
        require_no_overlap(lse, c.mask);
    }
    if (out.size == 0 && lse.size == 0) return;
    std::vector<const CudaArray*> all = {&c.q, &c.k, &c.v, &out, &lse};
    if (c.has_mask) all.push_back(&c.mask);
    require_on_current_device(all);
    cuda::MatmulPrecision prec{};
    const bool tc = attn_tensor_cores(precision, a.e, prec);
    py::gil_scoped_release nogil;
    if (tc)
        cuda::attention_tc_forward(a, prec, c.q.ptr, c.k.ptr, c.v.ptr, c.has_mask ? c.mask.ptr : 0, out.ptr, lse.ptr,
                                   stream);
    else
        cuda::attention_forward(a, c.q.ptr, c.k.ptr, c.v.ptr, c.has_mask ? c.mask.ptr : 0, out.ptr, lse.ptr, stream);
}

void cuda_attention_backward(py::handle q_obj, py::handle k_obj, py::handle v_obj, py::handle mask_obj,
                             py::handle out_obj, py::handle dout_obj, py::handle lse_obj, py::handle dq_obj,
                             py::handle dk_obj, py::handle dv_obj, std::optional<double> scale, bool is_causal,
                             uintptr_t stream, const std::string& precision, py::handle workspace_obj) {
    require_built();
    check_attn_precision(precision);
    AttnCall c = attn_setup(q_obj, k_obj, v_obj, mask_obj, scale, is_causal);
    cuda::AttentionArgs& a = c.args;
    CudaArray out = parse_cai(out_obj, "out"), dout = parse_cai(dout_obj, "grad_out"), lse = parse_cai(lse_obj, "lse");
    CudaArray dq = parse_cai(dq_obj, "grad_query"), dk = parse_cai(dk_obj, "grad_key"), dv = parse_cai(dv_obj, "grad_value");
    a.o = attn_operand(out, a.batch, a.heads, a.l, a.e, false);
    a.dout = attn_operand(dout, a.batch, a.heads, a.l, a.e, false);
    a.dq = attn_operand(dq, a.batch, a.heads, a.l, a.e, true);
    a.dk = attn_operand(dk, a.batch, a.heads, a.s, a.e, true);
    a.dv = attn_operand(dv, a.batch, a.heads, a.s, a.e, true);
    require_dtype(lse, "<f4", "float32");
    if (lse.shape != std::vector<int64_t>{a.batch, a.heads, a.l} || !c_contiguous(lse))
        throw py::value_error("lse must be a contiguous float32 array of shape " + shape_str({a.batch, a.heads, a.l}) +
                              ", got " + shape_str(lse.shape));
    std::vector<const CudaArray*> ins = {&c.q, &c.k, &c.v, &out, &dout, &lse};
    if (c.has_mask) ins.push_back(&c.mask);
    for (const CudaArray* o : {&dq, &dk, &dv})
        for (const CudaArray* in : ins) require_no_overlap(*o, *in);
    require_no_overlap(dq, dk);
    require_no_overlap(dq, dv);
    require_no_overlap(dk, dv);
    if (dq.size == 0 && dk.size == 0) return;
    std::vector<const CudaArray*> all = ins;
    for (const CudaArray* o : {&dq, &dk, &dv}) all.push_back(o);
    require_on_current_device(all);
    cuda::MatmulPrecision prec{};
    const bool tc = attn_tensor_cores(precision, a.e, prec);
    CudaArray ws;
    if (tc) {
        // The tensor-core backward keeps rowsum(grad_out * out) of every query in a workspace.
        if (workspace_obj.is_none())
            throw py::value_error("attention backward at precision '" + precision + "' needs a workspace: a "
                                  "contiguous float32 array of shape " + shape_str({a.batch, a.heads, a.l}));
        ws = parse_cai(workspace_obj, "workspace");
        require_dtype(ws, "<f4", "float32");
        if (ws.shape != std::vector<int64_t>{a.batch, a.heads, a.l} || !c_contiguous(ws))
            throw py::value_error("workspace must be a contiguous float32 array of shape " +
                                  shape_str({a.batch, a.heads, a.l}) + ", got " + shape_str(ws.shape));
        require_writeable(ws);
        for (const CudaArray* x : all) require_no_overlap(ws, *x);
        require_on_current_device({&ws});
    }
    py::gil_scoped_release nogil;
    if (tc)
        cuda::attention_tc_backward(a, prec, c.q.ptr, c.k.ptr, c.v.ptr, c.has_mask ? c.mask.ptr : 0, out.ptr, dout.ptr,
                                    lse.ptr, dq.ptr, dk.ptr, dv.ptr, ws.ptr, stream);
    else
        cuda::attention_backward(a, c.q.ptr, c.k.ptr, c.v.ptr, c.has_mask ? c.mask.ptr : 0, out.ptr, dout.ptr,
                                 lse.ptr, dq.ptr, dk.ptr, dv.ptr, stream);
}

}  // namespace

void register_cuda(py::module_& m) {
    m.def("cuda_gemm", &cuda_gemm, py::arg("a"), py::arg("b"), py::arg("out"), py::kw_only(), py::arg("alpha") = 1.0,
          py::arg("beta") = 0.0, py::arg("stream") = uintptr_t{0}, py::arg("precision") = "highest",
          py::arg("tensor_core") = "auto",
          "out = alpha * a @ b + beta * out on CUDA float32 arrays (2-D, or batched 3-D), enqueued on `stream`; "
          "precision 'highest' (fp32 FFMA), 'high' (tf32 tensor cores) or 'medium' (bf16 tensor cores); "
          "tensor_core 'auto' (wgmma on Hopper with sm_90a code, else mma.sync), 'wgmma' or 'mma_sync'.");
    m.def("cuda_tensor_core_path", &cuda::tensor_core_path,
          "The kernel precision 'high' / 'medium' use on the current device: 'wgmma (...)', 'mma.sync (...)' or "
          "'none (why)'.");
    m.def("cuda_adam_table", &cuda_adam_table, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
          py::arg("exp_avg_sqs"),
          "Checks the four lists of CUDA float32 arrays and returns the host int64 (5, T) table the fused "
          "Adam kernel reads (addresses of params, grads, exp_avgs, exp_avg_sqs; element counts).");
    m.def("cuda_adamw_step", &cuda_adamw_step, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
          py::arg("exp_avg_sqs"), py::kw_only(), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
          py::arg("weight_decay"), py::arg("step"), py::arg("adamw") = true, py::arg("stream") = uintptr_t{0},
          "One fused Adam (adamw=False) / AdamW step over lists of CUDA float32 arrays, in place, one launch on "
          "`stream`; `step` counts this step (1 for the first).");
    m.def("cuda_conv2d_forward", &cuda_conv2d_forward, py::arg("input"), py::arg("weight"), py::arg("bias"),
          py::arg("out"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::kw_only(),
          py::arg("stream") = uintptr_t{0},
          "out = conv2d(input, weight) + bias on dense NCHW CUDA float32 arrays (bias may be None); oh, ow from out.");
    m.def("cuda_conv2d_grad_input", &cuda_conv2d_grad_input, py::arg("grad_output"), py::arg("weight"),
          py::arg("grad_input"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
          py::kw_only(), py::arg("stream") = uintptr_t{0}, "grad_input of conv2d (write-only), CUDA float32.");
    m.def("cuda_conv2d_grad_weight", &cuda_conv2d_grad_weight, py::arg("input"), py::arg("grad_output"),
          py::arg("grad_weight"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
          py::kw_only(), py::arg("stream") = uintptr_t{0},
          "grad_weight of conv2d (write-only), CUDA float32; split-k sums make it run-to-run nondeterministic.");
    m.def("cuda_max_pool2d_forward", &cuda_max_pool2d_forward, py::arg("input"), py::arg("out"), py::arg("indices"),
          py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::kw_only(),
          py::arg("stream") = uintptr_t{0}, "max pooling forward with int64 flat in-plane indices, CUDA float32.");
    m.def("cuda_max_pool2d_backward", &cuda_max_pool2d_backward, py::arg("grad_output"), py::arg("indices"),
          py::arg("grad_input"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
          py::kw_only(), py::arg("stream") = uintptr_t{0}, "max pooling backward (writes all of grad_input).");
    m.def(
        "cuda_avg_pool2d_forward",
        [](py::handle x, py::handle y, Pair k, Pair s, Pair p, bool cip, std::optional<int64_t> div, uintptr_t st) {
            cuda_avg_pool2d(true, x, y, k, s, p, cip, div, st);
        },
        py::arg("input"), py::arg("out"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
        py::arg("count_include_pad"), py::arg("divisor_override"), py::kw_only(), py::arg("stream") = uintptr_t{0},
        "average pooling forward, CUDA float32.");
    m.def(
        "cuda_avg_pool2d_backward",
        [](py::handle dy, py::handle dx, Pair k, Pair s, Pair p, bool cip, std::optional<int64_t> div, uintptr_t st) {
            cuda_avg_pool2d(false, dy, dx, k, s, p, cip, div, st);
        },
        py::arg("grad_output"), py::arg("grad_input"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
        py::arg("count_include_pad"), py::arg("divisor_override"), py::kw_only(), py::arg("stream") = uintptr_t{0},
        "average pooling backward (writes all of grad_input), CUDA float32.");
    m.def("cuda_attention_forward", &cuda_attention_forward, py::arg("query"), py::arg("key"), py::arg("value"),
          py::arg("attn_mask"), py::arg("out"), py::arg("lse"), py::kw_only(), py::arg("scale") = py::none(),
          py::arg("is_causal") = false, py::arg("stream") = uintptr_t{0}, py::arg("precision") = "highest",
          "Fused attention forward (flash style) on CUDA float32 (b, h, l, e) / (b, h, s, e) arrays; writes out "
          "and the (b, h, l) log-sum-exp. attn_mask: None, float32 (added) or bool (True = attend), broadcast. "
          "precision 'highest' (fp32), 'high' / 'medium' (tf32 / bf16 tensor cores where they cover the head dim).");
    m.def("cuda_attention_backward", &cuda_attention_backward, py::arg("query"), py::arg("key"), py::arg("value"),
          py::arg("attn_mask"), py::arg("out"), py::arg("grad_out"), py::arg("lse"), py::arg("grad_query"),
          py::arg("grad_key"), py::arg("grad_value"), py::kw_only(), py::arg("scale") = py::none(),
          py::arg("is_causal") = false, py::arg("stream") = uintptr_t{0}, py::arg("precision") = "highest",
          py::arg("workspace") = py::none(),
          "Fused attention backward: grad_query, grad_key, grad_value (write-only) from the forward's out and lse, "
          "at the forward's precision; 'high' / 'medium' need a float32 (b, h, l) workspace.");
}

}  // namespace tf::bind
