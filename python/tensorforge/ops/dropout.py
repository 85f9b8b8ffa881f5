"""dropout: zeroes each element with probability p and scales the rest by 1/(1-p) in training.
On CPU float arrays one C++ kernel draws the mask (a hash of each element's index and a seed taken
from the global generator, so manual_seed reproduces it) and scales in the same pass; the backward
reuses the saved uint8 mask. CUDA and other dtypes compose the mask from the device's generator."""
import numpy as np

from .. import _C
from .._backend import xp
from .._creation import random_on
from ..autograd.function import Node
from ..autograd.grad_mode import state
from ..tensor import edge, make
from ._common import _FLOAT_NP


def _check_p(p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


class DropoutBackward0(Node):
    """grad * keep / (1 - p) from the saved uint8 mask: one kernel, or Tensor ops under create_graph."""

    __slots__ = ("keep", "scale")

    def backward(self, g):
        gd = g._data
        if state.enabled or gd.__class__ is not np.ndarray or gd.dtype not in _FLOAT_NP:
            return (g * make(self.keep.reshape(gd.shape).astype(gd.dtype) * gd.dtype.type(self.scale)),)
        if not gd.flags.c_contiguous:
            gd = np.ascontiguousarray(gd)
        out = np.empty(gd.shape, gd.dtype)
        _C.dropout_backward(gd, self.keep, out, self.scale)
        return (make(out),)


def _dropout_cpu(input, p):  # noqa: A002
    d = input._data
    if not d.flags.c_contiguous:
        d = np.ascontiguousarray(d)
    out = np.empty(d.shape, d.dtype)
    keep = np.empty(d.shape, np.uint8)
    _C.dropout(d, out, keep, p, int(random_on(None, "randint", 0, 2**63 - 1)))
    result = make(out)
    if state.enabled and input.requires_grad:
        node = DropoutBackward0((edge(input),))
        node.keep = keep
        node.scale = 1.0 / (1.0 - p)
        result._grad_fn = node
        result.requires_grad = True
    return result


def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    _check_p(p)
    if not training or p == 0.0:
        return input
    d = input._data
    if p == 1.0:
        return input * make(xp(d).zeros((), d.dtype))
    if d.__class__ is np.ndarray and d.dtype in _FLOAT_NP:
        return _dropout_cpu(input, float(p))
    keep = random_on(input.device, "random_sample", d.shape, dtype=np.float32 if d.dtype == np.float32 else np.float64) >= p
    return input * make(keep.astype(d.dtype) * d.dtype.type(1.0 / (1.0 - p)))


def dropout2d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Zeroes whole channels of (N, C, H, W) or (C, H, W) inputs."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    d = input._data
    if d.ndim not in (3, 4):
        raise ValueError(f"dropout2d expects a 3-D or 4-D input, got shape {tuple(d.shape)}")
    mask_shape = d.shape[:-2] + (1, 1)
    keep = random_on(input.device, "random_sample", mask_shape) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return input * make((keep * scale).astype(d.dtype))
