// Error checking for every CUDA runtime call and every kernel launch.
//
//   TF_CUDA_CHECK(cudaMemsetAsync(p, 0, n, stream));   // throws on failure
//   my_kernel<<<grid, block, 0, stream>>>(...);
//   TF_CUDA_CHECK_LAUNCH("my_kernel");                  // cudaGetLastError after the launch
//
// A failure throws std::runtime_error whose text names the call as written, the error's name
// and cudaGetErrorString, and the file and line, e.g.
//   "CUDA error: cudaMemsetAsync(p, 0, n, stream) failed: cudaErrorInvalidValue (invalid
//    argument) at csrc/cuda/foo.cu:42"
// The bindings turn std::runtime_error into Python's RuntimeError. A launch check catches
// configuration errors (bad grid, too much shared memory, no kernel image for this GPU);
// faults inside the kernel surface asynchronously at a later synchronising call.
#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace tf::cuda::detail {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
    throw std::runtime_error(std::string("CUDA error: ") + what + " failed: " + cudaGetErrorName(err) + " (" +
                             cudaGetErrorString(err) + ") at " + file + ":" + std::to_string(line));
}

inline void check(cudaError_t err, const char* what, const char* file, int line) {
    if (err != cudaSuccess) throw_cuda_error(err, what, file, line);
}

}  // namespace tf::cuda::detail

#define TF_CUDA_CHECK(call) ::tf::cuda::detail::check((call), #call, __FILE__, __LINE__)
#define TF_CUDA_CHECK_LAUNCH(kernel_name) \
    ::tf::cuda::detail::check(cudaGetLastError(), "launch of " kernel_name, __FILE__, __LINE__)
