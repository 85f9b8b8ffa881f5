// Python bindings of the host buffer cache (cpu/memory/host_cache.h) and its installation as
// numpy's data allocator (NEP 49, numpy >= 1.22), so the arrays our ops create reuse freed buffers
// instead of faulting fresh pages in every training step:
//   install_host_cache() -> bool   makes the cache numpy's handler in the calling context
//   host_cache_stats() -> dict, host_cache_set_limit(bytes), host_cache_release()
// numpy keeps the handler per context (a ContextVar), and every array remembers the handler that
// allocated it, so arrays made before or elsewhere are freed by their own handler.
// No numpy headers here: like pybind11's own numpy support, the two C-API entries used are read
// from numpy's exported function table by their fixed ABI slots, and the handler struct mirrors
// numpy's PyDataMem_Handler (version 1), which numpy keeps ABI-stable.
#include "../cpu/memory/host_cache.h"

#include <cstring>

#include "array_checks.h"

namespace tf::bind {
namespace {

struct NumpyDataAllocator {  // numpy's PyDataMemAllocator
    void* ctx;
    void* (*malloc)(void* ctx, size_t size);
    void* (*calloc)(void* ctx, size_t nelem, size_t elsize);
    void* (*realloc)(void* ctx, void* ptr, size_t new_size);
    void (*free)(void* ctx, void* ptr, size_t size);
};

struct NumpyDataHandler {  // numpy's PyDataMem_Handler
    char name[127];
    uint8_t version;
    NumpyDataAllocator allocator;
};

constexpr int kSlotFeatureVersion = 211;  // unsigned PyArray_GetNDArrayCFeatureVersion(void)
constexpr int kSlotSetHandler = 304;      // PyObject* PyDataMem_SetHandler(PyObject* capsule)
constexpr unsigned kFeatureVersion_1_22 = 0xf;

NumpyDataHandler make_handler() {
    NumpyDataHandler h{};
    std::strncpy(h.name, "tensorforge_host_cache", sizeof(h.name) - 1);
    h.version = 1;
    h.allocator.malloc = [](void*, size_t n) { return cpu::host_cache_malloc(n); };
    h.allocator.calloc = [](void*, size_t n, size_t e) { return cpu::host_cache_calloc(n, e); };
    h.allocator.realloc = [](void*, void* p, size_t n) { return cpu::host_cache_realloc(p, n); };
    h.allocator.free = [](void*, void* p, size_t) { cpu::host_cache_free(p); };
    return h;
}

void** numpy_api_table() {
    py::object multiarray;
    try {
        multiarray = py::module_::import("numpy._core.multiarray");
    } catch (py::error_already_set&) {
        multiarray = py::module_::import("numpy.core.multiarray");  // numpy 1.x
    }
    py::capsule api = multiarray.attr("_ARRAY_API").cast<py::capsule>();
    return static_cast<void**>(api.get_pointer());
}

bool install() {
    static NumpyDataHandler handler = make_handler();
    void** api = numpy_api_table();
    auto feature_version = reinterpret_cast<unsigned (*)()>(api[kSlotFeatureVersion]);
    if (feature_version() < kFeatureVersion_1_22) return false;  // no allocator API before numpy 1.22
    auto set_handler = reinterpret_cast<PyObject* (*)(PyObject*)>(api[kSlotSetHandler]);
    py::capsule capsule(static_cast<void*>(&handler), "mem_handler");
    PyObject* old = set_handler(capsule.ptr());
    if (!old) throw py::error_already_set();
    Py_DECREF(old);
    return true;
}

}  // namespace

void register_host_cache(py::module_& m) {
    m.def("install_host_cache", &install,
          "Makes the host buffer cache numpy's data allocator in the calling context; False if numpy < 1.22.");
    m.def("host_cache_stats", [] {
        const cpu::HostCacheStats s = cpu::host_cache_stats();
        py::dict d;
        d["live_blocks"] = s.live_blocks;
        d["live_bytes"] = s.live_bytes;
        d["cached_blocks"] = s.cached_blocks;
        d["cached_bytes"] = s.cached_bytes;
        d["hits"] = s.hits;
        d["misses"] = s.misses;
        d["limit_bytes"] = s.limit_bytes;
        d["min_block_bytes"] = cpu::kMinCachedBytes;
        return d;
    }, "Counters of the host buffer cache (large blocks only).");
    m.def("host_cache_set_limit", [](int64_t bytes) {
        if (bytes < 0) throw py::value_error("host_cache_set_limit: bytes must be >= 0, got " + std::to_string(bytes));
        cpu::host_cache_set_limit(static_cast<size_t>(bytes));
    }, py::arg("bytes"), "Most bytes of free blocks the cache keeps; frees what is cached beyond it.");
    m.def("host_cache_release", &cpu::host_cache_release, "Returns every cached free block to the system.");
}

}  // namespace tf::bind
