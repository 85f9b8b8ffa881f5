// __cuda_array_interface__ parsing and argument checks for the CUDA bindings (see cuda_array.h).
#include "cuda_array.h"

#include <tensorforge/cuda_api.h>

#include <algorithm>
#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace tf::bind {

void require_built() {
    if (!cuda::is_built())
        throw std::runtime_error(
            "tensorforge was built without CUDA, so its CUDA kernels are unavailable; rebuild with "
            "TENSORFORGE_CUDA=ON and nvcc on PATH (e.g. TENSORFORGE_CUDA=ON pip install .)");
}

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

namespace {

int64_t as_int64(py::handle h, const std::string& what) {
    if (!py::isinstance<py::int_>(h) || py::isinstance<py::bool_>(h))
        throw py::type_error(what + " must be an int, got " + std::string(py::str(py::type::of(h).attr("__name__"))));
    return h.cast<int64_t>();
}

}  // namespace

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
    if (a.size == 0) return true;  // no elements: any strides (numpy and cupy call these contiguous too)
    int64_t st = 1;
    for (int i = a.ndim() - 1; i >= 0; --i) {
        if (a.shape[i] != 1 && a.strides[i] != st) return false;
        st *= a.shape[i];
    }
    return true;
}

namespace {

std::pair<uintptr_t, uintptr_t> byte_span(const CudaArray& a) {
    uintptr_t lo = a.ptr, hi = a.ptr;
    if (a.size == 0) return {lo, lo};
    for (int i = 0; i < a.ndim(); ++i) {
        int64_t extent = (a.shape[i] - 1) * a.strides[i] * a.itemsize;
        if (extent < 0) lo += extent; else hi += extent;
    }
    return {lo, hi + a.itemsize};
}

}  // namespace

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

}  // namespace tf::bind
