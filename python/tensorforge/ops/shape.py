"""Shape ops (views where numpy gives one): reshape/view, permute/transpose, (un)squeeze, expand,
contiguous/clone, and cat/stack/split/chunk."""
import numpy as np

from .. import _dtype
from .._backend import check_same_device, xp
from ..autograd.function import Node
from ..autograd.grad_mode import state
from ..tensor import Tensor, edge, make
from ._common import norm_dim, record_unary, sum_to

_HAS_RESHAPE_COPY = tuple(int(p) for p in np.__version__.split(".")[:2]) >= (2, 1)


def _shape_arg(shape):
    """reshape(2, 3) and reshape((2, 3)) both give (2, 3)."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def _record_view(x, out_data, node_cls, shares_memory=True, **fields):
    out = record_unary(x, out_data, node_cls, **fields)
    if shares_memory:
        out._vc = x._vc
    return out


class ViewBackward0(Node):
    __slots__ = ("in_shape",)
    is_view = True

    def backward(self, g):
        return (g.reshape(self.in_shape),)


class CopyBackward0(Node):
    """Backward of reshape-that-copied, contiguous() and clone(): the gradient passes through."""

    __slots__ = ("in_shape",)

    def backward(self, g):
        return (g.reshape(self.in_shape) if g.shape != self.in_shape else g,)


def _reshape_error(shape, d):
    return RuntimeError(f"shape '{list(shape)}' is invalid for input of size {d.size}")


def reshape(x, *shape):
    shape = _shape_arg(shape)
    d = x._data
    if shape == d.shape:
        return _record_view(x, d, ViewBackward0, in_shape=d.shape)
    try:
        out = d.reshape(shape)
    except ValueError:
        raise _reshape_error(shape, d) from None
    is_view = d.flags.c_contiguous or xp(d).may_share_memory(out, d)
    return _record_view(x, out, ViewBackward0 if is_view else CopyBackward0, shares_memory=is_view, in_shape=d.shape)


def view(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], _dtype.dtype):
        raise TypeError("view(dtype) is not supported; use .to(dtype)")
    shape = _shape_arg(shape)
    d = x._data
    try:
        if _HAS_RESHAPE_COPY and xp(d) is np:
            out = np.reshape(d, shape, copy=False)
        else:
            out = d.view()
            out.shape = shape
    except ValueError as e:
        if "copy" in str(e) or "incompatible" in str(e):
            raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one "
                               "dimension spans across two contiguous subspaces). Use .reshape(...) instead.") from None
        raise _reshape_error(shape, d) from None
    except AttributeError:
        raise RuntimeError("view size is not compatible with input tensor's size and stride. Use .reshape(...) "
                           "instead.") from None
    return _record_view(x, out, ViewBackward0, in_shape=d.shape)


def flatten(x, start_dim=0, end_dim=-1):
    d = x._data
    if d.ndim == 0:
        return reshape(x, 1)
    s, e = norm_dim(start_dim, d.ndim), norm_dim(end_dim, d.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = d.shape[:s] + (-1 if d.size else int(np.prod(d.shape[s:e + 1])),) + d.shape[e + 1:]
    return reshape(x, shape)


def unflatten(x, dim, sizes):
    d = x._data
    dim = norm_dim(dim, d.ndim)
    return reshape(x, d.shape[:dim] + tuple(sizes) + d.shape[dim + 1:])


def squeeze(x, dim=None):
    d = x._data
    if dim is None:
        shape = tuple(s for s in d.shape if s != 1)
    else:
        dims = {norm_dim(k, d.ndim) for k in ((dim,) if isinstance(dim, int) else dim)} if d.ndim else set()
        shape = tuple(s for i, s in enumerate(d.shape) if not (i in dims and s == 1))
    return _record_view(x, d.reshape(shape), ViewBackward0, in_shape=d.shape)


def unsqueeze(x, dim):
    d = x._data
    dim = norm_dim(dim, d.ndim + 1)
    return _record_view(x, d.reshape(d.shape[:dim] + (1,) + d.shape[dim:]), ViewBackward0, in_shape=d.shape)


class PermuteBackward0(Node):
    __slots__ = ("inverse",)
    is_view = True

    def backward(self, g):
        return (g.permute(self.inverse),)


def permute(x, *dims):
    d = x._data
    dims = tuple(norm_dim(k, d.ndim) for k in _shape_arg(dims))
    if sorted(dims) != list(range(d.ndim)):
        raise RuntimeError(f"permute(): dims {dims} are not a permutation of the {d.ndim} dimensions of the input")
    inverse = tuple(int(i) for i in np.argsort(dims))
    return _record_view(x, d.transpose(dims), PermuteBackward0, inverse=inverse)


def transpose(x, dim0, dim1):
    d = x._data
    if d.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return _record_view(x, d, ViewBackward0, in_shape=d.shape)
    a, b = norm_dim(dim0, d.ndim), norm_dim(dim1, d.ndim)
    dims = list(range(d.ndim))
    dims[a], dims[b] = dims[b], dims[a]
    return _record_view(x, d.transpose(dims), PermuteBackward0, inverse=tuple(dims))


def t(x):
    if x._data.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x._data.ndim}D")
    return transpose(x, 0, -1) if x._data.ndim == 2 else transpose(x, 0, 0)


class ExpandBackward0(Node):
    __slots__ = ("in_shape",)
    is_view = True

    def backward(self, g):
        return (sum_to(g, self.in_shape),)


def expand(x, *sizes):
    d = x._data
    sizes = _shape_arg(sizes)
    lead = len(sizes) - d.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to the "
                           f"number of dimensions in the tensor ({d.ndim})")
    target = []
    for i, s in enumerate(sizes):
        cur = d.shape[i - lead] if i >= lead else None
        if s == -1:
            if cur is None:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
            s = cur
        elif cur is not None and cur != 1 and cur != s:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size ({cur}) at "
                               f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                               f"{list(d.shape)}")
        target.append(s)
    target = tuple(target)
    if target == d.shape:
        return _record_view(x, d, ViewBackward0, in_shape=d.shape)
    return _record_view(x, xp(d).broadcast_to(d, target), ExpandBackward0, in_shape=d.shape)


def expand_as(x, other):
    return expand(x, other.shape)


def contiguous(x):
    d = x._data
    if d.flags.c_contiguous:
        return x
    return _record_view(x, xp(d).ascontiguousarray(d), CopyBackward0, shares_memory=False, in_shape=d.shape)


def clone(x):
    return _record_view(x, x._data.copy(), CopyBackward0, shares_memory=False, in_shape=x._data.shape)


# ---- joining and splitting ------------------------------------------------------------------
class CatBackward0(Node):
    __slots__ = ("axis", "bounds")

    def backward(self, g):
        lead = (slice(None),) * self.axis
        return tuple(g[lead + (slice(a, b),)] for a, b in self.bounds)


def cat(tensors, dim=0):
    tensors = [t for t in tensors]
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"cat(): expected a sequence of Tensors, but element {i} is {type(t).__name__}")
    # like PyTorch, 1-D empty tensors are skipped
    kept = [t for t in tensors if not (t._data.ndim == 1 and t._data.size == 0)] or tensors[:1]
    ndim = kept[0]._data.ndim
    if ndim == 0:
        raise RuntimeError("zero-dimensional tensor cannot be concatenated")
    axis = norm_dim(dim, ndim)
    arrays = [t._data for t in kept]
    check_same_device(*arrays)
    dt = _common_dtype(arrays)
    ref = kept[0]._data.shape
    for i, a in enumerate(arrays):
        if a.ndim != ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ndim} and {a.ndim}")
        for k in range(ndim):
            if k != axis and a.shape[k] != ref[k]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {axis}. Expected size {ref[k]} "
                                   f"but got size {a.shape[k]} for tensor number {i} in the list.")
    out = make(xp(arrays[0]).concatenate([a.astype(dt, copy=False) for a in arrays], axis=axis))
    if state.enabled and any(t.requires_grad for t in kept):
        node = CatBackward0(tuple(edge(t) for t in kept))
        node.axis = axis
        bounds, start = [], 0
        for a in arrays:
            bounds.append((start, start + a.shape[axis]))
            start += a.shape[axis]
        node.bounds = bounds
        out._grad_fn = node
        out.requires_grad = True
    return out


def _common_dtype(arrays):
    """PyTorch's promotion across cat's (all >= 1-d) inputs."""
    acc = arrays[0]
    for a in arrays[1:]:
        if a.dtype != acc.dtype:
            acc = np.empty(0, _dtype.result_type(acc, a))
    return acc.dtype


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    ref = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.shape != ref:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(ref)} at entry 0 and "
                               f"{list(t.shape)} at entry {i}")
    dim = norm_dim(dim, len(ref) + 1)
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def split(x, split_size_or_sections, dim=0):
    d = x._data
    axis = norm_dim(dim, d.ndim)
    n = d.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0 and n > 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={step}")
        sizes = [min(step, n - s) for s in range(0, n, step)] if n else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                               f"dimension {axis}), but got split_sizes={sizes}")
    lead = (slice(None),) * axis
    out, start = [], 0
    for s in sizes:
        out.append(x[lead + (slice(start, start + s),)])
        start += s
    return tuple(out)


def chunk(x, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    n = x._data.shape[norm_dim(dim, x._data.ndim)]
    return split(x, max(-(-n // chunks), 1), dim)
