"""Argument handling shared by conv2d and the 2-D pooling ops: int-or-pair arguments, NCHW input
checks (a 3-D input is one unbatched image), and the arrays our kernels accept."""
import numpy as np

from .._backend import xp
from ..tensor import Tensor

_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def pair(value, name, op, minimum):
    """(a, b) from an int or a sequence of two ints, each >= minimum."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    else:
        try:
            value = tuple(int(v) for v in value)
        except TypeError:
            raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}") from None
        if len(value) == 1:
            value = value * 2
        if len(value) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if value[0] < minimum or value[1] < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value}")
    return value


def image_batch(input, op):  # noqa: A002 - PyTorch's argument name
    """The input as a 4-D NCHW Tensor, and whether it was a 3-D unbatched image."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{op}: expected 3D (unbatched) or 4D (batched) input, but got input of shape "
                           f"{tuple(input.shape)}")
    if input.ndim == 3:
        return input.unsqueeze(0), True
    return input, False


def kernel_array(t, op, name):
    """t's data as a C-contiguous float32/float64 array on its device, or a clear error."""
    d = t._data
    if d.dtype not in _KERNEL_DTYPES:
        raise RuntimeError(f"{op}: {name} must be float32 or float64, got {t.dtype}")
    return xp(d).ascontiguousarray(d)
