#include "array_checks.h"

#include <algorithm>
#include <utility>

namespace tf::bind {

std::string shape_str(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) {
        if (i) s += ", ";
        s += std::to_string(a.shape(i));
    }
    return s + (a.ndim() == 1 ? ",)" : ")");
}

int64_t elem_stride(const py::array& a, int dim, const char* name) {
    py::ssize_t bytes = a.strides(dim), item = a.itemsize();
    if (bytes % item != 0)
        throw py::value_error(std::string(name) + ": stride of " + std::to_string(bytes) + " bytes in dimension " +
                              std::to_string(dim) + " is not a multiple of the element size");
    return bytes / item;
}

void require_ndim(const py::array& a, int lo, int hi, const char* name) {
    if (a.ndim() < lo || a.ndim() > hi)
        throw py::value_error(std::string(name) + " must have " + std::to_string(lo) +
                              (lo == hi ? "" : " to " + std::to_string(hi)) + " dimensions, got shape " + shape_str(a));
}

void require_float(const py::array& a, const char* name) {
    char kind = a.dtype().kind();
    if (kind != 'f' || (a.itemsize() != 4 && a.itemsize() != 8))
        throw py::type_error(std::string(name) + " must be float32 or float64, got " +
                             std::string(py::str(a.dtype())));
}

void require_same_dtype(const py::array& a, const py::array& b, const char* na, const char* nb) {
    if (!a.dtype().is(b.dtype()) && !a.dtype().equal(b.dtype()))
        throw py::type_error(std::string("dtype mismatch: ") + na + " is " + std::string(py::str(a.dtype())) + " but " +
                             nb + " is " + std::string(py::str(b.dtype())));
}

void require_writeable(const py::array& a, const char* name) {
    if (!a.writeable()) throw py::value_error(std::string(name) + " is read-only; pass a writeable array");
}

namespace {
std::pair<uintptr_t, uintptr_t> byte_span(const py::array& a) {
    uintptr_t lo = reinterpret_cast<uintptr_t>(a.data()), hi = lo;
    if (a.size() == 0) return {lo, lo};
    for (py::ssize_t i = 0; i < a.ndim(); ++i) {
        py::ssize_t extent = (a.shape(i) - 1) * a.strides(i);
        if (extent < 0) lo += extent; else hi += extent;
    }
    return {lo, hi + a.itemsize()};
}
}  // namespace

void require_no_overlap(const py::array& out, const py::array& in, const char* on, const char* in_name) {
    auto [olo, ohi] = byte_span(out);
    auto [ilo, ihi] = byte_span(in);
    if (olo < ihi && ilo < ohi)
        throw py::value_error(std::string(on) + " overlaps " + in_name + " in memory; pass a separate output array");
}

}  // namespace tf::bind
