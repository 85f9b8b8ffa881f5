"""matmul / @: batched and broadcasting, float32/float64 through our GEMM (tensorforge._C.gemm on the
CPU; on CUDA tensorforge.cuda.gemm for float32 and cupy's matmul for float64, see ops/_kernels.py);
integer and bool matmul fall back to numpy / cupy."""
import numpy as np

from .. import _dtype
from .._backend import check_same_device, xp
from . import _kernels as kernels
from ..autograd.function import Node
from ..autograd.grad_mode import state
from ..tensor import Tensor, edge, make
from ._common import as_tensor_operand, sum_to

_GEMM_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _gemm_2d(a, b):
    m, n = a.shape[0], b.shape[1]
    out = xp(a).empty((m, n), a.dtype)
    if m and n:
        if a.shape[1] == 0:
            out.fill(0)
        else:
            kernels.gemm(a, b, out)
    return out


def _matmul_arrays(a, b):
    """a (..., m, k) @ b (..., k, n) for arrays with ndim >= 2 and one dtype."""
    m, k = a.shape[-2], a.shape[-1]
    k2, n = b.shape[-2], b.shape[-1]
    if k != k2:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {k2}x{n}) "
                           f"(matmul of shapes {tuple(a.shape)} and {tuple(b.shape)})")
    if a.dtype not in _GEMM_DTYPES:
        return xp(a).matmul(a, b)
    if b.ndim == 2:
        if a.ndim == 2:
            return _gemm_2d(a, b)
        return _gemm_2d(a.reshape(-1, k), b).reshape(a.shape[:-2] + (m, n))  # batch folds into rows
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise RuntimeError(f"matmul: batch dimensions of shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be "
                           f"broadcast together") from None
    m_ = xp(a)
    out = m_.empty(batch + (m, n), a.dtype)
    if out.size == 0:
        return out
    if k == 0:
        out.fill(0)
        return out
    a3 = m_.broadcast_to(a, batch + (m, k)).reshape(-1, m, k)
    b3 = m_.broadcast_to(b, batch + (k, n)).reshape(-1, k, n)
    kernels.gemm(a3, b3, out.reshape(-1, m, n))
    return out


class MmBackward0(Node):
    __slots__ = ("a_shape", "a_dtype", "b_shape", "b_dtype")

    def backward(self, g):
        a, b = self.saved
        ga = gb = None
        if self.next[0] is not None:
            ga = g @ b.mT
            if ga.shape != self.a_shape:
                ga = sum_to(ga, self.a_shape)
            if ga._data.dtype != self.a_dtype:
                ga = ga.to(self.a_dtype)
        if self.next[1] is not None:
            if b.ndim == 2 and a.ndim > 2:  # fold the batch: one GEMM, no per-batch partial sums
                gb = a.reshape(-1, a.shape[-1]).mT @ g.reshape(-1, g.shape[-1])
            else:
                gb = a.mT @ g
                if gb.shape != self.b_shape:
                    gb = sum_to(gb, self.b_shape)
            if gb._data.dtype != self.b_dtype:
                gb = gb.to(self.b_dtype)
        return ga, gb


def _matmul_nd(a, b):
    ad, bd = a._data, b._data
    if ad.__class__ is not bd.__class__:
        check_same_device(ad, bd)
    if ad.dtype != bd.dtype:
        dt = _dtype.result_type(ad, bd)
        ad, bd = ad.astype(dt, copy=False), bd.astype(dt, copy=False)
    out = make(_matmul_arrays(ad, bd))
    if state.enabled and (a.requires_grad or b.requires_grad):
        node = MmBackward0((edge(a), edge(b)))
        node.save(a, b)
        node.a_shape, node.a_dtype = a._data.shape, a._data.dtype
        node.b_shape, node.b_dtype = b._data.shape, b._data.dtype
        out._grad_fn = node
        out.requires_grad = True
    return out


def matmul(a, b):
    if not isinstance(b, Tensor):
        b = as_tensor_operand(b, a)
    if a._data.ndim == 0 or b._data.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {a._data.ndim}D and "
                           f"{b._data.ndim}D")
    if a._data.ndim >= 2 and b._data.ndim >= 2:
        return _matmul_nd(a, b)
    a_vec, b_vec = a._data.ndim == 1, b._data.ndim == 1
    if a_vec and b_vec and a.shape != b.shape:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to have "
                           f"the same number of elements, but got {a.shape[0]} and {b.shape[0]} elements respectively")
    out = _matmul_nd(a.unsqueeze(0) if a_vec else a, b.unsqueeze(-1) if b_vec else b)
    if a_vec and b_vec:
        return out.reshape(())
    if b_vec:
        out = out.squeeze(-1)
    if a_vec:
        out = out.squeeze(-2)
    return out
