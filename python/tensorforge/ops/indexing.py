"""Indexing: basic (ints, slices, None, ...), integer-array and boolean-mask indices; __setitem__.
The backward of an index scatter-adds, so repeated indices accumulate."""
import numpy as np

from .._backend import xp
from ._kernels import index_add
from ..autograd.function import Node
from ..autograd.grad_mode import state
from ..tensor import Tensor, edge, make
from ._common import as_tensor_operand, sum_to

_BASIC = (int, slice, type(None), type(Ellipsis))


def _index_array(a):
    if a.dtype.kind not in "iub":
        raise IndexError(f"tensors used as indices must be long, int, byte or bool tensors (got {a.dtype})")
    return a


def normalize_index(index, m=np):
    """(index for an array of module m (numpy or cupy), True when it uses only basic indexing, so the result
    is a view). Index arrays move to m's device, like PyTorch's CPU index tensors into CUDA tensors."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for i in items:
        if i.__class__ in _BASIC:
            out.append(i)
            continue
        if isinstance(i, Tensor):
            a = _index_array(i._data)
            out.append(int(a) if a.ndim == 0 and a.dtype.kind in "iu" else m.asarray(a) if xp(a) is not m else a)
        elif isinstance(i, (bool, np.bool_)):
            out.append(bool(i))
        elif isinstance(i, (np.integer,)):
            out.append(int(i))
        elif isinstance(i, (list, np.ndarray)) or hasattr(i, "__cuda_array_interface__"):
            a = np.asarray(i) if isinstance(i, list) else i
            if a.size == 0 and a.dtype.kind == "f":
                a = a.astype(np.int64)
            a = _index_array(a)
            out.append(m.asarray(a) if xp(a) is not m else a)
        else:
            raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
                             f"valid indices (got {type(i).__name__})")
    basic = all(i.__class__ in _BASIC for i in out)
    return (tuple(out) if isinstance(index, tuple) or len(out) != 1 else out[0]), basic


class IndexBackward0(Node):
    __slots__ = ("index", "in_shape", "basic")
    is_view = True

    def backward(self, g):
        return (index_add_zeros(g, self.index, self.in_shape, self.basic),)


class IndexAddBackward0(Node):
    __slots__ = ("index",)

    def backward(self, g):
        return (getitem_normalized(g, self.index, False),)


def getitem(x, index):
    idx, basic = normalize_index(index, xp(x._data))
    return getitem_normalized(x, idx, basic)


def getitem_normalized(x, idx, basic):
    d = x._data
    try:
        out = make(d[idx])
    except IndexError as e:
        raise IndexError(f"{e} (indexing a tensor of shape {tuple(d.shape)})") from None
    if basic:
        out._vc = x._vc
    if state.enabled and x.requires_grad:
        node = IndexBackward0((edge(x),))
        node.index, node.in_shape, node.basic = idx, d.shape, basic
        out._grad_fn = node
        out.requires_grad = True
    return out


def index_add_zeros(src, idx, shape, basic):
    """zeros(shape) with src added at idx (repeated indices accumulate)."""
    s = src._data
    out = xp(s).zeros(shape, s.dtype)
    if basic:
        out[idx] = s
    else:
        index_add(out, idx, s)
    result = make(out)
    if state.enabled and src.requires_grad:
        node = IndexAddBackward0((edge(src),))
        node.index = idx
        result._grad_fn = node
        result.requires_grad = True
    return result


class IndexPutBackward0(Node):
    __slots__ = ("index", "value_shape", "value_dtype")

    def backward(self, g):
        n = self.next
        gx = None
        if n[0] is not None:
            keep = xp(g._data).ones(g.shape, dtype=bool)
            keep[self.index] = False
            gx = g * make(keep)
        gv = None
        if n[1] is not None:
            gv = sum_to(getitem_normalized(g, self.index, False), self.value_shape)
            if gv._data.dtype != self.value_dtype:
                gv = gv.to(self.value_dtype)
        return gx, gv


def setitem(x, index, value):
    """x[index] = value, in place; recorded by autograd when x or value requires grad."""
    from .inplace import check_inplace

    idx, _ = normalize_index(index, xp(x._data))
    value = as_tensor_operand(value, x)
    if value._data.__class__ is not x._data.__class__:
        value = value.to(x.device)  # like PyTorch's index_put_, the value may come from another device
    record = state.enabled and (x.requires_grad or value.requires_grad)
    if record:
        check_inplace(x)
    next_edges = (edge(x), edge(value)) if record else None
    try:
        x._data[idx] = value._data
    except ValueError as e:
        raise RuntimeError(f"cannot assign a value of shape {tuple(value.shape)} to the indexed part of a tensor of "
                           f"shape {tuple(x.shape)}: {e}") from None
    x._vc[0] += 1
    if record:
        node = IndexPutBackward0(next_edges)
        node.index = idx
        node.value_shape, node.value_dtype = value._data.shape, value._data.dtype
        x._grad_fn = node
        x.requires_grad = True
