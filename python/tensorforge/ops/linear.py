"""linear(x, W, b) = x W^T + b through our GEMM (W^T is a transposed view: no copy). On CPU float
arrays with a bias, the bias is written into the output first and the GEMM accumulates onto it
(beta = 1): one node, no separate broadcast add and no extra output-sized temporary; its backward
takes the bias gradient as one column-sum kernel (_C.sum_rows)."""
import numpy as np

from .. import _C
from .._backend import xp
from ..autograd.function import Node
from ..autograd.grad_mode import state
from ..tensor import Tensor, edge, make
from . import _kernels as kernels
from .matmul import _GEMM_DTYPES, matmul


class LinearBackward0(Node):
    """Gradients of x W^T + b in Tensor ops (so create_graph records them): the batch dims fold
    into rows, so each is one GEMM (or one column sum)."""

    __slots__ = ()

    def backward(self, g):
        x, w = self.saved
        n, k = w.shape
        g2 = g.reshape(-1, n)
        gx = (g2 @ w).reshape(x.shape) if self.next[0] is not None else None
        gw = g2.mT @ x.reshape(-1, k) if self.next[1] is not None else None
        gb = None
        if self.next[2] is not None:
            gd = g2._data
            if not state.enabled and gd.__class__ is np.ndarray and gd.flags.c_contiguous and gd.dtype in _GEMM_DTYPES:
                gb = make(np.empty(n, gd.dtype))  # one column-sum kernel on our pool
                _C.sum_rows(gd, gb._data)
            else:
                gb = g2.sum(0)
        return gx, gw, gb


def _linear_bias_cpu(d, w, b):
    """x W^T + b of CPU arrays: the bias broadcast into the output, then GEMM with beta = 1."""
    n, k = w.shape
    out = np.empty(d.shape[:-1] + (n,), d.dtype)
    out2 = out.reshape(-1, n)
    out2[...] = b
    kernels.gemm(d.reshape(-1, k), w.T, out2, beta=1.0)
    return out


def _fused_bias_ok(d, w, b):
    return (xp(d) is np and xp(w) is np and xp(b) is np and d.dtype in _GEMM_DTYPES and w.dtype == d.dtype and b.dtype == d.dtype
            and b.shape == (w.shape[0],) and d.size > 0 and w.shape[1] > 0)


def linear(input, weight, bias=None):  # noqa: A002 - PyTorch's argument name
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError("linear(): input and weight must be Tensors")
    if weight.ndim != 2:
        raise ValueError(f"linear(): weight must be 2-D (out_features, in_features), got shape {tuple(weight.shape)}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear(): input of shape {tuple(input.shape)} does not match weight of shape "
                         f"{tuple(weight.shape)}: the last dimension of the input must be {weight.shape[1]}")
    if isinstance(bias, Tensor) and _fused_bias_ok(input._data, weight._data, bias._data):
        out = make(_linear_bias_cpu(input._data, weight._data, bias._data))
        if state.enabled and (input.requires_grad or weight.requires_grad or bias.requires_grad):
            node = LinearBackward0((edge(input), edge(weight), edge(bias)))
            node.save(input, weight)
            out._grad_fn = node
            out.requires_grad = True
        return out
    out = matmul(input, weight.t())
    return out if bias is None else out + bias
