// The AVX-512 elementwise span kernels (16 float lanes): the loops of elementwise_span.inc compiled with this unit's flags.
#ifdef TENSORFORGE_HAVE_X86_KERNELS
#include <cstdint>

#include "elementwise_span.h"

namespace tf::cpu {
namespace {
#include "elementwise_span.inc"
}  // namespace

ElementwiseSpans<float> elementwise_spans_f32_avx512() { return spans<float>(); }
ElementwiseSpans<double> elementwise_spans_f64_avx512() { return spans<double>(); }

}  // namespace tf::cpu
#endif
