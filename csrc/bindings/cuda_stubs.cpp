// The CUDA API in a build without CUDA (TENSORFORGE_CUDA=OFF, or AUTO with no nvcc): the same
// names, clear answers. Queries report "not built"; everything that would touch a GPU throws.
#include <tensorforge/cuda_api.h>

#include <stdexcept>

namespace tf::cuda {
namespace {
[[noreturn]] void not_built(const char* what) {
    throw std::runtime_error(std::string("tensorforge was built without CUDA, so ") + what +
                             " is unavailable; rebuild with TENSORFORGE_CUDA=ON and nvcc on PATH");
}
}  // namespace

bool is_built() { return false; }
int device_count() { return 0; }
std::string build_info() { return "not built (configure with TENSORFORGE_CUDA=ON and nvcc on PATH)"; }
void require_device() { not_built("the CUDA backend"); }
int current_device() { not_built("current_device"); }
int pointer_device(uintptr_t) { not_built("pointer_device"); }
void gemm(const GemmShape&, float, uintptr_t, uintptr_t, float, uintptr_t, const GemmBatch&, uintptr_t) {
    not_built("cuda gemm");
}
void gemm_tensor_core(const GemmShape&, float, uintptr_t, uintptr_t, float, uintptr_t, const GemmBatch&, MatmulPrecision,
                      uintptr_t) {
    not_built("cuda gemm (tensor cores)");
}
bool wgmma_available() { return false; }
std::string tensor_core_path() { return "none (built without CUDA)"; }
void gemm_wgmma(const GemmShape&, float, uintptr_t, uintptr_t, float, uintptr_t, const GemmBatch&, MatmulPrecision,
                uintptr_t) {
    not_built("cuda gemm (wgmma)");
}
void layer_norm_forward(int64_t, int64_t, float, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t,
                        uintptr_t) {
    not_built("cuda layer_norm_forward");
}
void layer_norm_backward(int64_t, int64_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t,
                         uintptr_t, uintptr_t) {
    not_built("cuda layer_norm_backward");
}
void gelu_forward(int64_t, bool, uintptr_t, uintptr_t, uintptr_t) { not_built("cuda gelu_forward"); }
void gelu_backward(int64_t, bool, uintptr_t, uintptr_t, uintptr_t, uintptr_t) { not_built("cuda gelu_backward"); }
void softmax_forward(int64_t, int64_t, bool, uintptr_t, uintptr_t, uintptr_t) { not_built("cuda softmax_forward"); }
void softmax_backward(int64_t, int64_t, bool, uintptr_t, uintptr_t, uintptr_t, uintptr_t) {
    not_built("cuda softmax_backward");
}
void cross_entropy_forward(const CrossEntropyArgs&, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t,
                           uintptr_t, uintptr_t) {
    not_built("cuda cross_entropy_forward");
}
void cross_entropy_backward(const CrossEntropyArgs&, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t, int64_t,
                            uintptr_t, uintptr_t) {
    not_built("cuda cross_entropy_backward");
}
void adam_step(const AdamArgs&, uintptr_t, int64_t, int64_t, uintptr_t) { not_built("cuda adam_step"); }
uintptr_t cached_device_table(const int64_t*, int64_t) { not_built("cached_device_table"); }
void conv2d_forward(const Conv2dShape&, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t) {
    not_built("cuda conv2d_forward");
}
void conv2d_grad_input(const Conv2dShape&, uintptr_t, uintptr_t, uintptr_t, uintptr_t) {
    not_built("cuda conv2d_grad_input");
}
void conv2d_grad_weight(const Conv2dShape&, uintptr_t, uintptr_t, uintptr_t, uintptr_t) {
    not_built("cuda conv2d_grad_weight");
}
void max_pool2d_forward(const Pool2dShape&, uintptr_t, uintptr_t, uintptr_t, uintptr_t) {
    not_built("cuda max_pool2d_forward");
}
void max_pool2d_backward(const Pool2dShape&, uintptr_t, uintptr_t, uintptr_t, uintptr_t) {
    not_built("cuda max_pool2d_backward");
}
void avg_pool2d_forward(const Pool2dShape&, bool, int64_t, uintptr_t, uintptr_t, uintptr_t) {
    not_built("cuda avg_pool2d_forward");
}
void avg_pool2d_backward(const Pool2dShape&, bool, int64_t, uintptr_t, uintptr_t, uintptr_t) {
    not_built("cuda avg_pool2d_backward");
}
void attention_forward(const AttentionArgs&, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t,
                       uintptr_t) {
    not_built("cuda attention_forward");
}
void attention_backward(const AttentionArgs&, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t,
                        uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t) {
    not_built("cuda attention_backward");
}
bool attention_tc_supported(int64_t, MatmulPrecision) { return false; }
void attention_tc_forward(const AttentionArgs&, MatmulPrecision, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t,
                          uintptr_t, uintptr_t) {
    not_built("cuda attention_tc_forward");
}
void attention_tc_backward(const AttentionArgs&, MatmulPrecision, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t,
                           uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t) {
    not_built("cuda attention_tc_backward");
}

}  // namespace tf::cuda
