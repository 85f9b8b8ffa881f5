// Device discovery, pointer queries and build facts for the CUDA backend (no kernels here).
#include <cuda_runtime.h>

#include <tensorforge/cuda_api.h>

#include "check.cuh"
#include "device_props.cuh"

#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace tf::cuda {

bool is_built() { return true; }

int device_count() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // clear the "no driver / no device" error so later checks don't see it
        return 0;
    }
    return count;
}

void require_device() {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        cudaGetLastError();
        throw std::runtime_error(std::string("tensorforge.cuda: no CUDA device is visible (cudaGetDeviceCount: ") +
                                 cudaGetErrorName(err) + ": " + cudaGetErrorString(err) +
                                 "); the CUDA kernels need an NVIDIA GPU and its driver");
    }
    if (count == 0)
        throw std::runtime_error("tensorforge.cuda: no CUDA device is visible (cudaGetDeviceCount returned 0); "
                                 "the CUDA kernels need an NVIDIA GPU and its driver");
}

int current_device() {
    int dev = 0;
    TF_CUDA_CHECK(cudaGetDevice(&dev));
    return dev;
}

int pointer_device(uintptr_t ptr) {
    cudaPointerAttributes attr{};
    TF_CUDA_CHECK(cudaPointerGetAttributes(&attr, reinterpret_cast<const void*>(ptr)));
    switch (attr.type) {
        case cudaMemoryTypeDevice: return attr.device;
        case cudaMemoryTypeManaged: return -2;
        default: return -1;  // host (pinned or not) or unregistered
    }
}

int multiprocessor_count(int device) {
    // Cached per device: cudaDeviceGetAttribute is cheap, but this sits on every launch path.
    static std::mutex mu;
    static std::vector<int> cache;
    std::lock_guard<std::mutex> lock(mu);
    if (device < 0) throw std::runtime_error("multiprocessor_count: bad device " + std::to_string(device));
    if (static_cast<size_t>(device) >= cache.size()) cache.resize(device + 1, 0);
    if (cache[device] == 0) {
        int sms = 0;
        TF_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
        cache[device] = sms > 0 ? sms : 1;
    }
    return cache[device];
}

std::string build_info() {
    int runtime = 0;
    if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) cudaGetLastError();
    return "CUDA " + std::to_string(runtime / 1000) + "." + std::to_string((runtime % 1000) / 10) +
           ", architectures " TENSORFORGE_CUDA_ARCHS;
}

}  // namespace tf::cuda
