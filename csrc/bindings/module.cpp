// The extension module tensorforge._C: one registration function per kernel family.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace tf::bind {
void register_runtime(py::module_& m);
void register_gemm(py::module_& m);
void register_activation(py::module_& m);  // bind_activation.cpp: GELU, erf
void register_adam(py::module_& m);
void register_normalization(py::module_& m);  // bind_normalization.cpp: LayerNorm
void register_conv(py::module_& m);  // bind_conv.cpp: conv2d forward / grad-input / grad-weight
void register_pool(py::module_& m);  // bind_pool.cpp: max / avg / adaptive-avg pooling
void register_attention(py::module_& m);
void register_cuda(py::module_& m);  // bind_cuda.cpp: CUDA kernels on __cuda_array_interface__ objects
void register_cuda_norm(py::module_& m);  // bind_cuda_norm.cpp: CUDA LayerNorm and GELU
void register_cuda_softmax(py::module_& m);  // bind_cuda_softmax.cpp: CUDA softmax and cross-entropy
void register_host_cache(py::module_& m);  // bind_host_cache.cpp: numpy's data allocator
void register_elementwise(py::module_& m);  // bind_elementwise.cpp: relu, dropout, column sums
}  // namespace tf::bind

PYBIND11_MODULE(_C, m) {
    m.doc() = "tensorforge's compiled kernels (CPU, and CUDA where built)";
    tf::bind::register_runtime(m);
    tf::bind::register_gemm(m);
    tf::bind::register_activation(m);
    tf::bind::register_adam(m);
    tf::bind::register_normalization(m);
    tf::bind::register_conv(m);
    tf::bind::register_pool(m);
    tf::bind::register_attention(m);
    tf::bind::register_cuda(m);
    tf::bind::register_cuda_norm(m);
    tf::bind::register_cuda_softmax(m);
    tf::bind::register_host_cache(m);
    tf::bind::register_elementwise(m);
}
