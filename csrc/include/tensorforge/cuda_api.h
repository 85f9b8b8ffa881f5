// The CUDA backend's plain C++ API: no CUDA or pybind11 headers, so the bindings compile
// with the host compiler. Device pointers are passed as raw addresses; `stream` is a
// cudaStream_t as an integer (cupy's current stream), 0 for the legacy default stream.
// Every function throws std::runtime_error naming the failing call, file and line.
#pragma once
#include <cstdint>
#include <string>

namespace tf::cuda {

bool is_built();          // true only in a build that compiled the .cu files
int device_count();       // 0 when there is no driver or no device; never throws
std::string build_info(); // CUDA version and architectures compiled

}  // namespace tf::cuda
