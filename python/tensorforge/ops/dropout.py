"""dropout: zeroes each element with probability p and scales the rest by 1/(1-p) in training."""
import numpy as np

from .._backend import xp
from .._creation import random_on
from ..tensor import make


def _check_p(p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    _check_p(p)
    if not training or p == 0.0:
        return input
    d = input._data
    if p == 1.0:
        return input * make(xp(d).zeros((), d.dtype))
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
