// Run-time choice of the SIMD path: probed once with __builtin_cpu_supports on x86-64,
// overridable downwards with TENSORFORGE_ISA=baseline|avx2|avx512 (tests use this to run every
// path the machine can execute). Asking for a path the CPU lacks falls back to the best it has.
#pragma once
#include <string>
#include <vector>

namespace tf::cpu {

enum class Isa { baseline = 0, avx2 = 1, avx512 = 2 };

Isa best_supported_isa();          // what the CPU can run among the compiled paths
Isa active_isa();                  // what the kernels use now
void set_active_isa(Isa isa);      // clamps to best_supported_isa()
const char* isa_name(Isa isa);
std::vector<std::string> compiled_isas();

}  // namespace tf::cpu
