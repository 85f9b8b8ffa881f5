"""Helpers shared by the op families: operand coercion, dims, broadcasting reduction."""
import numpy as np

from .. import _dtype
from .._backend import xp
from ..autograd.grad_mode import state
from ..tensor import Tensor, edge, make

_FLOAT_NP = (np.dtype(np.float32), np.dtype(np.float64))
_F32 = np.dtype(np.float32)
_SCALARS = (int, float, bool)


def as_tensor_operand(value, like):
    """Turns a Python/numpy scalar, array or list into a constant Tensor for an op with `like`."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, _SCALARS) or isinstance(value, np.generic):
        return make(scalar_array(value, like._data))
    from .._creation import tensor

    return tensor(value)


def scalar_array(value, like_array):
    """value as a 0-d array of the type PyTorch gives a Python scalar next to like_array."""
    if isinstance(value, np.generic):
        value = value.item()
    if value.__class__ is bool:
        dt = _dtype.bool_.np
    elif value.__class__ is float:
        dt = _F32 if like_array.dtype.kind != "f" else like_array.dtype
    else:
        dt = _dtype.int64.np if like_array.dtype.kind == "b" else like_array.dtype
        if like_array.dtype.kind == "f":
            dt = like_array.dtype
    return xp(like_array).asarray(value, dtype=dt)


def float_array(d):
    """d itself if floating point, else cast to float32 (PyTorch's default for int inputs to float ops)."""
    if d.dtype in _FLOAT_NP:
        return d
    return d.astype(_F32)


def norm_dim(dim, ndim):
    """A non-negative axis; IndexError like PyTorch's for out-of-range dims."""
    lo = -max(ndim, 1)
    hi = max(ndim, 1) - 1
    if not lo <= dim <= hi:
        raise IndexError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})")
    return dim + ndim if dim < 0 else dim


def norm_dims(dim, ndim):
    """dim (None, int or sequence) as a sorted tuple of axes; None means all axes."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (int, np.integer)):
        return (norm_dim(int(dim), ndim),) if ndim else ()
    axes = tuple(sorted({norm_dim(int(d), ndim) for d in dim}))
    return axes


def sum_to(g, shape):
    """Sums gradient g over the dims that broadcasting expanded, back to `shape`."""
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and gshape[i + lead] != 1)
    if axes:
        g = g.sum(axes, keepdim=True)
    if lead or g.shape != shape:
        g = g.reshape(shape)
    return g


def broadcast_error(a_shape, b_shape):
    for i in range(1, max(len(a_shape), len(b_shape)) + 1):
        sa = a_shape[-i] if i <= len(a_shape) else 1
        sb = b_shape[-i] if i <= len(b_shape) else 1
        if sa != sb and sa != 1 and sb != 1:
            dim = max(len(a_shape), len(b_shape)) - i
            return RuntimeError(f"The size of tensor a ({sa}) must match the size of tensor b ({sb}) at "
                                f"non-singleton dimension {dim} (shapes {tuple(a_shape)} and {tuple(b_shape)})")
    return RuntimeError(f"shapes {tuple(a_shape)} and {tuple(b_shape)} cannot be broadcast together")


def record_unary(x, out_data, node_cls, **fields):
    """Wraps out_data as a Tensor and, when x needs grad, links it to a node_cls with `fields`."""
    out = make(out_data)
    if state.enabled and x.requires_grad:
        node = node_cls((edge(x),))
        for k, v in fields.items():
            setattr(node, k, v)
        out._grad_fn = node
        out.requires_grad = True
    return out
