// __cuda_array_interface__ parsing and the argument checks shared by the CUDA bindings
// (bind_cuda.cpp, bind_cuda_norm.cpp): each failure raises a Python exception that names the
// argument and the problem (dtype, shape, strides, writeability, aliasing, device).
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tf::bind {

namespace py = pybind11;

// Raises RuntimeError naming the fix when this build has no CUDA kernels.
void require_built();

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

std::string shape_str(const std::vector<int64_t>& shape);
std::string dtype_name(const std::string& typestr);
// Reads obj.__cuda_array_interface__; `name` is the argument name used in every error.
CudaArray parse_cai(py::handle obj, const std::string& name);
void require_dtype(const CudaArray& a, const char* typestr, const char* what);
void require_ndim(const CudaArray& a, int lo, int hi);
void require_writeable(const CudaArray& a);
bool c_contiguous(const CudaArray& a);
// Raises if the byte ranges of `out` and `in` overlap.
void require_no_overlap(const CudaArray& out, const CudaArray& in);
// A device is visible and every pointer is device (or managed) memory of the current device.
void require_on_current_device(const std::vector<const CudaArray*>& arrays);

}  // namespace tf::bind
