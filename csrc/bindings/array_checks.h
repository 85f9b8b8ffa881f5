// Argument checks shared by the bindings: each failure raises a Python exception that names
// the argument and the problem (dtype, shape, strides, writeability, aliasing).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

namespace tf::bind {

namespace py = pybind11;

std::string shape_str(const py::array& a);

// Element strides of dimension `dim`; raises if the byte stride is not a whole number of elements.
int64_t elem_stride(const py::array& a, int dim, const char* name);

void require_ndim(const py::array& a, int ndim_lo, int ndim_hi, const char* name);
void require_same_dtype(const py::array& a, const py::array& b, const char* name_a, const char* name_b);
void require_float(const py::array& a, const char* name);  // float32 or float64
void require_writeable(const py::array& a, const char* name);

// Raises if the byte ranges spanned by `out` and `in` overlap (the kernel would read what it writes).
void require_no_overlap(const py::array& out, const py::array& in, const char* out_name, const char* in_name);

}  // namespace tf::bind
