"""Reductions with dim/keepdim: sum, mean, prod, max/min (+indices), argmax/argmin, var/std, gather."""
from collections import namedtuple

import numpy as np

from .._backend import xp
from ._kernels import index_add
from ..autograd.function import Node
from ..tensor import make
from ._common import norm_dim, norm_dims, record_unary

_ndarray = np.ndarray
values_indices = namedtuple("values_indices", ["values", "indices"])


def _as_array(m, v):
    """Full reductions give numpy scalars; tensors always hold arrays."""
    return v if isinstance(v, _ndarray) or m is not np else np.asarray(v)


def _keep_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


class SumBackward0(Node):
    __slots__ = ("in_shape", "keep_shape")

    def backward(self, g):
        return (g.reshape(self.keep_shape).expand(self.in_shape),)


class MeanBackward0(Node):
    __slots__ = ("in_shape", "keep_shape", "count")

    def backward(self, g):
        return (g.reshape(self.keep_shape).expand(self.in_shape) / self.count,)


def sum(x, dim=None, keepdim=False, dtype=None):  # noqa: A001
    d = x._data
    m = xp(d)
    axes = norm_dims(dim, d.ndim) if dim is not None else None
    if dtype is not None:
        from .._dtype import to_numpy_dtype

        dtype = to_numpy_dtype(dtype)
    elif d.dtype.kind in "bui":
        dtype = np.int64
    out = _as_array(m, d.sum(axis=axes, keepdims=keepdim, dtype=dtype))
    in_shape = d.shape
    return record_unary(x, out, SumBackward0, in_shape=in_shape,
                   keep_shape=_keep_shape(in_shape, axes if axes is not None else range(d.ndim)))


def mean(x, dim=None, keepdim=False, dtype=None):
    d = x._data
    if d.dtype.kind != "f" and dtype is None:
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating point or "
                           f"complex dtype. Got: {x.dtype.name}")
    if dtype is not None:
        from .._dtype import to_numpy_dtype

        d = d.astype(to_numpy_dtype(dtype))
    m = xp(d)
    axes = norm_dims(dim, d.ndim) if dim is not None else tuple(range(d.ndim))
    out = _as_array(m, d.mean(axis=axes, keepdims=keepdim))
    count = 1
    for a in axes:
        count *= d.shape[a]
    return record_unary(x, out, MeanBackward0, in_shape=d.shape, keep_shape=_keep_shape(d.shape, axes), count=count)


class ProdBackward0(Node):
    __slots__ = ("keep_shape", "axis")

    def backward(self, g):
        x = self.saved[0]
        out = self.output(self.saved[1])
        g = g.reshape(self.keep_shape)
        if bool((x._data != 0).all()):
            return (g * out.reshape(self.keep_shape) / x,)
        if self.axis is None:  # product of all elements: work on the flattened tensor
            return (g * _prod_of_others(x.reshape(-1), 0).reshape(x.shape),)
        return (g * _prod_of_others(x, self.axis),)


def _prod_of_others(x, axis):
    """For each element along axis, the product of the other elements (exact with zeros)."""
    xt = x.transpose(axis, -1)
    n = xt.shape[-1]
    grid = xt.unsqueeze(-2).expand(*xt.shape[:-1], n, n)
    from .elementwise import where

    diag = make(xp(x._data).eye(n, dtype=bool))
    return where(diag, 1.0, grid).prod(-1).transpose(axis, -1)


def prod(x, dim=None, keepdim=False, dtype=None):
    d = x._data
    m = xp(d)
    if dtype is not None:
        from .._dtype import to_numpy_dtype

        d = d.astype(to_numpy_dtype(dtype))
    elif d.dtype.kind in "bui":
        d = d.astype(np.int64)
    axis = norm_dim(dim, d.ndim) if dim is not None else None
    out = _as_array(m, d.prod(axis=axis, keepdims=keepdim))
    keep = _keep_shape(d.shape, (axis,) if axis is not None else range(d.ndim))
    result = record_unary(x, out, ProdBackward0, keep_shape=keep, axis=axis)
    if result._grad_fn is not None:
        result._grad_fn.save(x, result.detach())
    return result


class MaxAllBackward0(Node):
    __slots__ = ()

    def backward(self, g):
        x, out = self.saved
        mask = x._data == out._data
        share = mask / mask.sum()  # ties share the gradient evenly, like PyTorch
        return (g * make(share.astype(x._data.dtype, copy=False)),)


def _extreme(x, dim, keepdim, largest):
    d = x._data
    m = xp(d)
    if dim is None:
        if d.size == 0:
            raise RuntimeError(f"{'max' if largest else 'min'}(): Expected reduction dim to be specified for "
                               "input.numel() == 0. Specify the reduction dim with the 'dim' argument.")
        out = _as_array(m, d.max() if largest else d.min())
        result = record_unary(x, out, MaxAllBackward0)
        if result._grad_fn is not None:
            result._grad_fn.save(x, result.detach())
        return result
    axis = norm_dim(dim, d.ndim)
    idx = (d.argmax(axis=axis) if largest else d.argmin(axis=axis)) if d.ndim else m.zeros((), np.int64)
    idx_keep = m.expand_dims(idx, axis) if d.ndim else idx
    values = gather(x, axis, make(idx_keep)) if d.ndim else x.clone()
    if not keepdim and d.ndim:
        values = values.squeeze(axis)
        return values_indices(values, make(idx.astype(np.int64, copy=False)))
    return values_indices(values, make(idx_keep.astype(np.int64, copy=False)))


def max(x, dim=None, keepdim=False):  # noqa: A001
    return _extreme(x, dim, keepdim, True)


def min(x, dim=None, keepdim=False):  # noqa: A001
    return _extreme(x, dim, keepdim, False)


def amax(x, dim=None, keepdim=False):
    if dim is None:
        return _extreme(x, None, keepdim, True)
    return _extreme(x, dim, keepdim, True).values


def amin(x, dim=None, keepdim=False):
    if dim is None:
        return _extreme(x, None, keepdim, False)
    return _extreme(x, dim, keepdim, False).values


def argmax(x, dim=None, keepdim=False):
    d = x._data
    axis = norm_dim(dim, d.ndim) if dim is not None else None
    out = d.argmax(axis=axis, keepdims=keepdim) if axis is not None else d.argmax()
    return make(_as_array(xp(d), out).astype(np.int64, copy=False))


def argmin(x, dim=None, keepdim=False):
    d = x._data
    axis = norm_dim(dim, d.ndim) if dim is not None else None
    out = d.argmin(axis=axis, keepdims=keepdim) if axis is not None else d.argmin()
    return make(_as_array(xp(d), out).astype(np.int64, copy=False))


def var(x, dim=None, unbiased=None, keepdim=False, correction=None):
    if correction is None:
        correction = 0 if unbiased is False else 1
    d = x._data
    axes = norm_dims(dim, d.ndim)
    count = 1
    for a in axes:
        count *= d.shape[a]
    diff = x - x.mean(axes, keepdim=True)
    return (diff * diff).sum(axes, keepdim=keepdim) / (count - correction if count > correction else 0.0)


def std(x, dim=None, unbiased=None, keepdim=False, correction=None):
    return var(x, dim, unbiased, keepdim, correction).sqrt()


# ---- gather / scatter-add along a dim -----------------------------------------------------
def _full_index(m, index, axis):
    idx = list(m.ogrid[tuple(slice(s) for s in index.shape)])
    idx[axis] = index
    return tuple(idx)


class GatherBackward0(Node):
    __slots__ = ("axis", "index", "in_shape")

    def backward(self, g):
        return (scatter_add_zeros(g, self.axis, self.index, self.in_shape),)


class ScatterAddBackward0(Node):
    __slots__ = ("axis", "index")

    def backward(self, g):
        return (gather(g, self.axis, self.index),)


def _check_index(index):
    if index._data.dtype.kind not in "iu":
        raise RuntimeError(f"gather(): Expected dtype int64 for index, got {index.dtype.name}")


def gather(x, dim, index):
    _check_index(index)
    d = x._data
    axis = norm_dim(dim, d.ndim)
    out = xp(d).take_along_axis(d, index._data, axis=axis)
    return record_unary(x, out, GatherBackward0, axis=axis, index=index, in_shape=d.shape)


def scatter_add_zeros(src, dim, index, shape):
    """zeros(shape) with src added at index along dim (repeated indices add up)."""
    _check_index(index)
    s = src._data
    m = xp(s)
    out = m.zeros(shape, s.dtype)
    index_add(out, _full_index(m, index._data, dim), s)
    return record_unary(src, out, ScatterAddBackward0, axis=dim, index=index)
