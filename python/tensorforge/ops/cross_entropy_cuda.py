"""cross_entropy on CUDA tensors with our fused kernel (tensorforge.cuda.cross_entropy_forward / _backward):
float32 (N, C) logits, integer class indices on the same device, optional float32 class weights, any
ignore_index, label_smoothing and reduction. The forward keeps two floats per row (max and log-normaliser)
instead of an (N, C) log-probability array, and the backward writes the logits' gradient in one pass.
Anything else (probability targets, (N, C, d1, ...) inputs, float64) returns None here and loss.py
composes it from array ops."""
import numpy as np

from .._backend import xp
from ..autograd.function import Function
from ..tensor import Tensor, make

_F32 = np.dtype(np.float32)


def _cuda():
    from .. import cuda

    return cuda


class _CrossEntropyCuda(Function):
    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, label_smoothing, reduction):
        m = xp(x._data)
        logits = m.ascontiguousarray(x._data)
        loss, stats, row_weight = _cuda().cross_entropy_forward(logits, target, weight, ignore_index,
                                                                label_smoothing)
        ctx.arrays = (logits, target, weight, stats)
        ctx.ignore_index, ctx.label_smoothing, ctx.reduction = ignore_index, label_smoothing, reduction
        if reduction == "none":
            return make(loss)
        total = loss.sum()
        if reduction == "mean":
            ctx.divisor = row_weight.sum()  # summed weight of the non-ignored targets (0/0 = nan, as PyTorch)
            total = total / ctx.divisor
        return make(total.astype(_F32))

    @staticmethod
    def backward(ctx, grad):
        logits, target, weight, stats = ctx.arrays
        m = xp(logits)
        g = grad._data.astype(_F32, copy=False)
        if ctx.reduction == "none":
            g = m.ascontiguousarray(g)
        else:  # one value for every row, 0-d (ascontiguousarray would make it 1-d)
            g = g.reshape(())
            if ctx.reduction == "mean":
                g = (g / ctx.divisor).astype(_F32)
        dx = _cuda().cross_entropy_backward(g, logits, target, stats, weight, ctx.ignore_index,
                                            ctx.label_smoothing)
        return make(dx), None, None, None, None, None


def cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing):  # noqa: A002
    """The loss from our fused CUDA kernel, or None when these arguments are not its case."""
    if not (isinstance(input, Tensor) and isinstance(target, Tensor) and input.ndim == 2):
        return None
    d, t = input._data, target._data
    if xp(d) is np or xp(t) is np or d.dtype != _F32 or t.dtype.kind not in "iu" or t.shape != d.shape[:1]:
        return None
    w = None
    if weight is not None:
        w = weight._data
        if xp(w) is np or w.dtype != _F32 or w.shape != d.shape[1:]:
            return None
        w = xp(w).ascontiguousarray(w)
    if reduction not in ("none", "mean", "sum") or not 0.0 <= label_smoothing <= 1.0:
        return None  # loss.py raises the error
    t = xp(t).ascontiguousarray(t, dtype=np.int64)
    return _CrossEntropyCuda.apply(input, t, w, int(ignore_index), float(label_smoothing), reduction)
