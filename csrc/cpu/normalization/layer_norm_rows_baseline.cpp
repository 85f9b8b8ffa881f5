// The portable LayerNorm row kernels, float32 and float64: the loops of layer_norm_rows.inc compiled
// with this unit's flags.
#include <cmath>
#include <cstdint>

#include "layer_norm_rows.h"

namespace tf::cpu {
namespace {
#include "layer_norm_rows.inc"
}  // namespace

LayerNormRowKernels<float> layer_norm_rows_f32_baseline() { return {forward_rows<float>, backward_rows<float>}; }
LayerNormRowKernels<double> layer_norm_rows_f64_baseline() { return {forward_rows<double>, backward_rows<double>}; }

}  // namespace tf::cpu
