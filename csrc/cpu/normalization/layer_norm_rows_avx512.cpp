// The AVX-512 float32 LayerNorm row kernels: the loops of layer_norm_rows.inc compiled
// with this unit's flags.
#ifdef TENSORFORGE_HAVE_X86_KERNELS
#include <cmath>
#include <cstdint>

#include "layer_norm_rows.h"

namespace tf::cpu {
namespace {
#include "layer_norm_rows.inc"
}  // namespace

LayerNormRowKernels<float> layer_norm_rows_f32_avx512() { return {forward_rows<float>, backward_rows<float>}; }

}  // namespace tf::cpu
#endif
