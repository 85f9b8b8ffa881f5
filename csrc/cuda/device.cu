// Device discovery and build facts for the CUDA backend (no kernels here).
#include <cuda_runtime.h>

#include <tensorforge/cuda_api.h>

#include <string>

namespace tf::cuda {

bool is_built() { return true; }

int device_count() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no driver" error
        return 0;
    }
    return count;
}

std::string build_info() {
    int runtime = 0;
    cudaRuntimeGetVersion(&runtime);
    return "CUDA " + std::to_string(runtime / 1000) + "." + std::to_string((runtime % 1000) / 10) +
           ", architectures " TENSORFORGE_CUDA_ARCHS;
}

}  // namespace tf::cuda
