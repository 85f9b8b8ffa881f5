// The portable float32 GELU span kernels (SSE2 vectors on x86-64, NEON on aarch64): the formulas of gelu_span_f32.inc compiled with this unit's flags.
#include <cstdint>
#include <cstring>

#include "gelu_span.h"

namespace tf::cpu {
namespace {
#include "gelu_span_f32.inc"
}  // namespace

GeluSpanKernels gelu_spans_f32_baseline() { return {forward, backward, tanh_forward, tanh_backward}; }

}  // namespace tf::cpu

