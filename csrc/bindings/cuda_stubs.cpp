// The CUDA API in a build without CUDA: same names, clear answers.
#include <tensorforge/cuda_api.h>

namespace tf::cuda {

bool is_built() { return false; }
int device_count() { return 0; }
std::string build_info() { return "not built (configure with TENSORFORGE_CUDA=ON and nvcc on PATH)"; }

}  // namespace tf::cuda
