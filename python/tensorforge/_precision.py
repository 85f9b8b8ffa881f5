"""The float32 matmul precision setting, with PyTorch's names (torch.set_float32_matmul_precision):
"highest" (the default: float32 products), "high" (tf32 tensor-core products allowed) or "medium"
(bfloat16 tensor-core products allowed); accumulation stays float32. It is a permission: on the CPU,
and on GPUs without tensor cores (compute capability < 8.0), products stay float32. On CUDA float32
tensors, matmul / linear (ops/_kernels.gemm) and scaled_dot_product_attention (ops/attention_cuda.py)
read it."""

PRECISIONS = ("highest", "high", "medium")
_current = "highest"


def check_precision(precision):
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}")
    return precision


def set_float32_matmul_precision(precision):
    """Sets how float32 products may be taken on the GPU: "highest", "high" (tf32) or "medium" (bf16)."""
    global _current
    _current = check_precision(precision)


def get_float32_matmul_precision():
    """The precision set by set_float32_matmul_precision ("highest" unless changed)."""
    return _current
