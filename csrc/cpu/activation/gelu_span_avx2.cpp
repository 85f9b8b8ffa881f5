// The AVX2+FMA float32 GELU span kernels (8 lanes): the formulas of gelu_span_f32.inc compiled with this unit's flags.
#ifdef TENSORFORGE_HAVE_X86_KERNELS
#include <cstdint>
#include <cstring>

#include "gelu_span.h"

namespace tf::cpu {
namespace {
#include "gelu_span_f32.inc"
}  // namespace

GeluSpanKernels gelu_spans_f32_avx2() { return {forward, backward, tanh_forward, tanh_backward}; }

}  // namespace tf::cpu
#endif
