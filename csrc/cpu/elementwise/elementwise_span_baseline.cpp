// The portable elementwise span kernels (SSE2 on x86-64, NEON on aarch64 as the compiler vectorises them): the loops of elementwise_span.inc compiled with this unit's flags.
#include <cstdint>

#include "elementwise_span.h"

namespace tf::cpu {
namespace {
#include "elementwise_span.inc"
}  // namespace

ElementwiseSpans<float> elementwise_spans_f32_baseline() { return spans<float>(); }
ElementwiseSpans<double> elementwise_spans_f64_baseline() { return spans<double>(); }

}  // namespace tf::cpu
