// Python bindings of the runtime: threads, SIMD dispatch, build facts, CUDA discovery.
#include <tensorforge/cuda_api.h>

#include "../cpu/cpu_features.h"
#include "../cpu/peak/peak.h"
#include "../cpu/thread_pool.h"
#include "array_checks.h"

#include <pybind11/stl.h>

namespace tf::bind {
namespace {

cpu::Isa parse_isa(const std::string& name) {
    if (name == "baseline") return cpu::Isa::baseline;
    if (name == "avx2") return cpu::Isa::avx2;
    if (name == "avx512") return cpu::Isa::avx512;
    throw py::value_error("unknown SIMD path '" + name + "'; expected 'baseline', 'avx2' or 'avx512'");
}

std::string compiler() {
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "unknown";
#endif
}

#ifndef TENSORFORGE_VERSION
#define TENSORFORGE_VERSION "unknown"
#endif
#ifndef TENSORFORGE_CUDA_TOOLKIT_VERSION
#define TENSORFORGE_CUDA_TOOLKIT_VERSION ""
#endif
#ifndef TENSORFORGE_CUDA_ARCHS
#define TENSORFORGE_CUDA_ARCHS ""
#endif

// Facts fixed when this module was compiled (CMake passes them in); empty strings where not built.
py::dict build_info() {
    py::dict d;
    d["version"] = TENSORFORGE_VERSION;
    d["compiler"] = compiler();
    d["cuda_toolkit"] = TENSORFORGE_CUDA_TOOLKIT_VERSION;
    d["cuda_architectures"] = TENSORFORGE_CUDA_ARCHS;
    return d;
}

}  // namespace

void register_runtime(py::module_& m) {
    m.def("get_num_threads", &get_num_threads, "Threads our CPU kernels use.");
    m.def(
        "set_num_threads",
        [](int n) {
            if (n < 1) throw py::value_error("set_num_threads: n must be >= 1, got " + std::to_string(n));
            py::gil_scoped_release nogil;
            set_num_threads(n);
        },
        py::arg("n"), "Sets the number of threads our CPU kernels use.");
    m.def("compiled_isas", &cpu::compiled_isas, "SIMD paths compiled into this build.");
    m.def("best_isa", [] { return std::string(cpu::isa_name(cpu::best_supported_isa())); },
          "Best SIMD path this CPU supports among those compiled.");
    m.def("active_isa", [] { return std::string(cpu::isa_name(cpu::active_isa())); },
          "SIMD path the kernels use now.");
    m.def(
        "set_active_isa",
        [](const std::string& name) {
            cpu::set_active_isa(parse_isa(name));
            return std::string(cpu::isa_name(cpu::active_isa()));
        },
        py::arg("name"), "Selects a SIMD path (clamped to what the CPU supports); returns the one in use.");
    m.def("compiler", &compiler);
    m.def("build_info", &build_info,
          "Version, compiler, CUDA toolkit version and CUDA architectures this module was built with.");
    m.def(
        "measure_fma_peak_gflops",
        [](int threads, double seconds) {
            py::gil_scoped_release nogil;
            return cpu::measure_fma_peak_gflops(threads, seconds);
        },
        py::arg("threads"), py::arg("seconds") = 0.2,
        "GFLOP/s of an FMA-bound loop of the active SIMD path on `threads` threads (the compute limit).");
    m.def(
        "measure_copy_bandwidth_gbs",
        [](int64_t nbytes, int threads, int repeats) {
            if (nbytes < 1) throw py::value_error("nbytes must be positive");
            py::gil_scoped_release nogil;
            return cpu::measure_copy_bandwidth_gbs(nbytes, threads, repeats);
        },
        py::arg("nbytes"), py::arg("threads"), py::arg("repeats") = 5,
        "GB/s (read + write) of a large multithreaded copy (the memory-bandwidth limit).");
    m.def("cuda_is_built", &cuda::is_built);
    m.def("cuda_device_count", &cuda::device_count);
    m.def("cuda_build_info", &cuda::build_info);
}

}  // namespace tf::bind
