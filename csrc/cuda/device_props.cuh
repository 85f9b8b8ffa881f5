// Device facts the launchers size their grids by (implemented in device.cu).
#pragma once

namespace tf::cuda {

// Streaming multiprocessors of `device`, cached after the first query; throws on a CUDA error.
int multiprocessor_count(int device);

// major * 10 + minor of `device` (90 for an H100), cached after the first query; throws on a CUDA error.
int compute_capability(int device);

}  // namespace tf::cuda
