// Device discovery, pointer queries and build facts for the CUDA backend (no kernels here).
#include <cuda_runtime.h>

#include <tensorforge/cuda_api.h>

#include "check.cuh"
#include "device_props.cuh"

#include <algorithm>
#include <iterator>
#include <list>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
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

namespace {

// A device attribute, cached per (device, attribute): these sit on every launch path.
int cached_attribute(int device, cudaDeviceAttr attr, const char* what) {
    static std::mutex mu;
    static std::vector<std::pair<std::pair<int, int>, int>> cache;
    std::lock_guard<std::mutex> lock(mu);
    if (device < 0) throw std::runtime_error(std::string(what) + ": bad device " + std::to_string(device));
    for (const auto& e : cache)
        if (e.first.first == device && e.first.second == static_cast<int>(attr)) return e.second;
    int value = 0;
    TF_CUDA_CHECK(cudaDeviceGetAttribute(&value, attr, device));
    cache.push_back({{device, static_cast<int>(attr)}, value});
    return value;
}

}  // namespace

int multiprocessor_count(int device) {
    return std::max(1, cached_attribute(device, cudaDevAttrMultiProcessorCount, "multiprocessor_count"));
}

int compute_capability(int device) {
    return cached_attribute(device, cudaDevAttrComputeCapabilityMajor, "compute_capability") * 10 +
           cached_attribute(device, cudaDevAttrComputeCapabilityMinor, "compute_capability");
}

uintptr_t cached_device_table(const int64_t* host, int64_t count) {
    if (count <= 0) throw std::runtime_error("cached_device_table: count must be > 0");
    struct Entry {
        int device;
        std::vector<int64_t> contents;
        void* ptr;
    };
    static std::mutex mu;
    static std::list<Entry> lru;  // most recently used first
    constexpr size_t kMaxPerDevice = 64;
    std::lock_guard<std::mutex> lock(mu);
    const int dev = current_device();
    for (auto it = lru.begin(); it != lru.end(); ++it) {
        if (it->device == dev && static_cast<int64_t>(it->contents.size()) == count &&
            std::equal(it->contents.begin(), it->contents.end(), host)) {
            lru.splice(lru.begin(), lru, it);
            return reinterpret_cast<uintptr_t>(lru.front().ptr);
        }
    }
    size_t on_device = 0;
    for (const Entry& e : lru) on_device += e.device == dev;
    if (on_device >= kMaxPerDevice) {
        for (auto it = std::prev(lru.end());; --it) {  // the least recently used on this device
            if (it->device == dev) {
                TF_CUDA_CHECK(cudaDeviceSynchronize());  // a queued kernel may still read it
                TF_CUDA_CHECK(cudaFree(it->ptr));
                lru.erase(it);
                break;
            }
            if (it == lru.begin()) break;
        }
    }
    void* ptr = nullptr;
    const size_t bytes = static_cast<size_t>(count) * sizeof(int64_t);
    TF_CUDA_CHECK(cudaMalloc(&ptr, bytes));
    cudaError_t err = cudaMemcpy(ptr, host, bytes, cudaMemcpyHostToDevice);
    if (err != cudaSuccess) {
        cudaFree(ptr);
        detail::throw_cuda_error(err, "cudaMemcpy(ptr, host, bytes, cudaMemcpyHostToDevice)", __FILE__, __LINE__);
    }
    lru.push_front(Entry{dev, std::vector<int64_t>(host, host + count), ptr});
    return reinterpret_cast<uintptr_t>(ptr);
}

std::string build_info() {
    int runtime = 0;
    if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) cudaGetLastError();
    return "CUDA " + std::to_string(runtime / 1000) + "." + std::to_string((runtime % 1000) / 10) +
           ", architectures " TENSORFORGE_CUDA_ARCHS;
}

}  // namespace tf::cuda
