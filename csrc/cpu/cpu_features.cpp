#include "cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace tf::cpu {
namespace {

Isa probe() {
#if defined(__x86_64__) && defined(TENSORFORGE_HAVE_X86_KERNELS)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return Isa::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
    return Isa::baseline;
}

Isa from_env(Isa best) {
    const char* env = std::getenv("TENSORFORGE_ISA");
    if (!env) return best;
    Isa want = best;
    if (!std::strcmp(env, "baseline")) want = Isa::baseline;
    else if (!std::strcmp(env, "avx2")) want = Isa::avx2;
    else if (!std::strcmp(env, "avx512")) want = Isa::avx512;
    return want < best ? want : best;
}

std::atomic<int>& active() {
    static std::atomic<int> isa{static_cast<int>(from_env(best_supported_isa()))};
    return isa;
}

}  // namespace

Isa best_supported_isa() {
    static const Isa best = probe();
    return best;
}

Isa active_isa() { return static_cast<Isa>(active().load(std::memory_order_relaxed)); }

void set_active_isa(Isa isa) {
    Isa best = best_supported_isa();
    active().store(static_cast<int>(isa < best ? isa : best));
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::avx512: return "avx512";
        case Isa::avx2: return "avx2";
        default: return "baseline";
    }
}

std::vector<std::string> compiled_isas() {
#if defined(__x86_64__) && defined(TENSORFORGE_HAVE_X86_KERNELS)
    return {"baseline", "avx2", "avx512"};
#else
    return {"baseline"};
#endif
}

}  // namespace tf::cpu
