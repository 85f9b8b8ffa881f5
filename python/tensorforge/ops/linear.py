"""linear(x, W, b) = x W^T + b through our GEMM (W^T is a transposed view: no copy)."""
from ..tensor import Tensor
from .matmul import matmul


def linear(input, weight, bias=None):  # noqa: A002 - PyTorch's argument name
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError("linear(): input and weight must be Tensors")
    if weight.ndim != 2:
        raise ValueError(f"linear(): weight must be 2-D (out_features, in_features), got shape {tuple(weight.shape)}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear(): input of shape {tuple(input.shape)} does not match weight of shape "
                         f"{tuple(weight.shape)}: the last dimension of the input must be {weight.shape[1]}")
    out = matmul(input, weight.t())
    return out if bias is None else out + bias
