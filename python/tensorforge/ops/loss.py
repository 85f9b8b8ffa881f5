"""Losses with PyTorch's semantics. cross_entropy and nll_loss are one fused node each: every
sample's loss is -sum_c coef[i, c] * logp[i, c], where coef folds in the target (index or
probabilities), class weights, label smoothing, ignore_index and the reduction's divisor, so the
gradient with respect to the logits is g_i * (softmax[i] * sum_c coef[i, c] - coef[i])."""
import numpy as np

from .._backend import check_same_device, xp
from ..autograd.function import Function
from ..tensor import Tensor, make
from . import cross_entropy_cuda
from ._common import sum_to
from .elementwise import abs as abs_, clamp, log, where

_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction (expected 'none', 'mean' or 'sum')")


def _reduce(loss, reduction):
    _check_reduction(reduction)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _same_shape(name, input, target):  # noqa: A002
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{name}: target size {tuple(target.shape)} is different from input size "
                         f"{tuple(input.shape)}; they must match")


# ---- cross entropy / nll -------------------------------------------------------------------
def _classes_last(d):
    """(N, C, d1, ...) or (C,) -> a (rows, C) array with classes last, and the per-row shape."""
    if d.ndim == 1:
        return d.reshape(1, -1), ()
    moved = xp(d).moveaxis(d, 1, -1)
    return moved.reshape(-1, d.shape[1]), moved.shape[:-1]


def _coefficients(x_shape, target, weight, ignore_index, reduction, label_smoothing, fn_name):
    """coef (rows, C) such that loss_row = -sum_c coef * logp, plus the per-row output shape."""
    c = x_shape[1] if len(x_shape) > 1 else x_shape[0]
    w = None if weight is None else weight._data
    if target.dtype.kind in "iu":
        expected = x_shape[:1] + x_shape[2:] if len(x_shape) > 1 else ()
        if tuple(target.shape) != tuple(expected):
            raise ValueError(f"{fn_name}: expected target of shape {tuple(expected)} for input of shape "
                             f"{tuple(x_shape)}, got {tuple(target.shape)}")
        m = xp(target)
        t = target.reshape(-1).astype(np.int64)
        valid = t != ignore_index
        bad = valid & ((t < 0) | (t >= c))
        if bad.any():
            raise IndexError(f"{fn_name}: target {int(t[bad][0])} is out of bounds for {c} classes")
        rows = t.shape[0]
        tw = m.where(valid, 1.0 if w is None else w[m.where(valid, t, 0)], 0.0)
        coef = m.zeros((rows, c), np.float64)
        coef[m.arange(rows)[valid], t[valid]] = (1.0 - label_smoothing) * tw[valid]
        smooth = 0.0
        if label_smoothing:
            smooth = (label_smoothing / c) * (m.ones(c) if w is None else w)[None, :] * valid[:, None]
        if reduction == "mean":  # both terms divide by the summed weight of the non-ignored targets
            with np.errstate(invalid="ignore", divide="ignore"):
                coef = (coef + smooth) / tw.sum()
        else:
            coef = coef + smooth
        return coef, target.shape
    if tuple(target.shape) != tuple(x_shape):
        raise ValueError(f"{fn_name}: class-probability target of shape {tuple(target.shape)} must match input "
                         f"shape {tuple(x_shape)}")
    p, out_shape = _classes_last(target.astype(np.float64, copy=False))
    coef = (1.0 - label_smoothing) * p + label_smoothing / c
    if w is not None:
        coef = coef * w[None, :]
    if reduction == "mean":
        coef = coef / p.shape[0]
    return coef, out_shape


def _log_softmax_rows(x2):
    m = xp(x2)
    shifted = x2 - x2.max(axis=1, keepdims=True)
    return shifted - m.log(m.exp(shifted).sum(axis=1, keepdims=True))


class _CoefLoss(Function):
    """loss = -sum coef * logp per row; from_logits: logp = log_softmax(input) (cross_entropy),
    else logp = input (nll_loss)."""

    @staticmethod
    def forward(ctx, x, coef, out_shape, reduction, from_logits):
        d = x._data
        x2, _ = _classes_last(d)
        logp = _log_softmax_rows(x2.astype(np.float64)) if from_logits else x2.astype(np.float64)
        per_row = -(coef * logp).sum(axis=1)
        ctx.coef, ctx.logp, ctx.x_shape, ctx.dtype = coef, logp, d.shape, d.dtype
        ctx.reduction, ctx.from_logits, ctx.out_shape = reduction, from_logits, out_shape
        value = per_row.reshape(out_shape) if reduction == "none" else per_row.sum()
        return make(xp(d).asarray(value, dtype=d.dtype))

    @staticmethod
    def backward(ctx, grad):
        m = xp(ctx.logp)
        g = grad._data.astype(np.float64).reshape(-1, 1) if ctx.reduction == "none" else grad._data.astype(np.float64)
        if ctx.from_logits:
            probs = m.exp(ctx.logp)
            g2 = g * (probs * ctx.coef.sum(axis=1, keepdims=True) - ctx.coef)
        else:
            g2 = -g * ctx.coef
        if len(ctx.x_shape) == 1:
            gx = g2.reshape(ctx.x_shape)
        else:
            moved = (ctx.x_shape[0],) + tuple(ctx.x_shape[2:]) + (ctx.x_shape[1],)
            gx = m.moveaxis(g2.reshape(moved), -1, 1)
        return make(m.ascontiguousarray(gx, dtype=ctx.dtype)), None, None, None, None


class _IndexCrossEntropy(Function):
    """cross_entropy of (N, C) logits against class indices, no class weights, no label smoothing
    (the common case), in the input's dtype like PyTorch: loss_row = logsumexp(x_row) - x_row[t];
    the backward is softmax(x) - onehot(t), scaled per row. Rows whose target is ignore_index
    count for nothing."""

    @staticmethod
    def forward(ctx, x, t, valid, reduction):
        d = x._data
        shifted = d - d.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=1)
        rows = np.flatnonzero(valid)
        cols = t[rows]
        per_row = np.zeros(d.shape[0], d.dtype)
        per_row[rows] = np.log(total[rows]) - shifted[rows, cols]
        ctx.probs, ctx.rows, ctx.cols, ctx.reduction = e / total[:, None], rows, cols, reduction
        if reduction == "none":
            return make(per_row)
        value = per_row.sum()
        if reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                value = value / d.dtype.type(rows.size)
        return make(np.asarray(value, dtype=d.dtype))

    @staticmethod
    def backward(ctx, grad):
        probs, rows, cols = ctx.probs, ctx.rows, ctx.cols
        g = grad._data.astype(probs.dtype, copy=False)
        if ctx.reduction == "none":
            scale = np.zeros(probs.shape[0], probs.dtype)
            scale[rows] = g[rows]
        else:
            per = g / probs.dtype.type(rows.size) if ctx.reduction == "mean" else g
            scale = np.zeros(probs.shape[0], probs.dtype)
            scale[rows] = per
        gx = probs * scale[:, None]
        gx[rows, cols] -= scale[rows]
        return make(gx), None, None, None


def _index_cross_entropy(input, t, ignore_index, reduction):  # noqa: A002
    """The fast path of cross_entropy for (N, C) float logits and integer class indices."""
    n, c = input.shape
    if tuple(t.shape) != (n,):
        raise ValueError(f"cross_entropy: expected target of shape {(n,)} for input of shape {(n, c)}, got "
                         f"{tuple(t.shape)}")
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= c))
    if bad.any():
        raise IndexError(f"cross_entropy: target {int(t[bad][0])} is out of bounds for {c} classes")
    return _IndexCrossEntropy.apply(input, t.astype(np.int64, copy=False), valid, reduction)


def _coef_loss(fn_name, input, target, weight, ignore_index, reduction, label_smoothing, from_logits):  # noqa: A002
    _check_reduction(reduction)
    if not isinstance(input, Tensor) or input.ndim == 0:
        raise ValueError(f"{fn_name}: input must be a Tensor of shape (C,), (N, C) or (N, C, d1, ...)")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn_name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    t = target._data if isinstance(target, Tensor) else xp(input._data).asarray(np.asarray(target))
    check_same_device(input._data, t, None if weight is None else weight._data)
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    if weight is not None and tuple(weight.shape) != (c,):
        raise ValueError(f"{fn_name}: weight must have shape ({c},) for {c} classes, got {tuple(weight.shape)}")
    coef, out_shape = _coefficients(tuple(input.shape), t, weight, ignore_index, reduction, label_smoothing,
                                    fn_name)
    out = _CoefLoss.apply(input, coef, out_shape, reduction, from_logits)
    if isinstance(target, Tensor) and target.requires_grad and t.dtype.kind == "f":
        raise NotImplementedError(f"{fn_name}: gradients with respect to probability targets are not supported")
    return out


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,  # noqa: A002
                  reduction="mean", label_smoothing=0.0):
    """Fused log-softmax + negative log-likelihood over class dim 1 (class indices or probabilities)."""
    fused = cross_entropy_cuda.cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)
    if fused is not None:  # CUDA float32 (N, C) logits with class indices: our fused kernel
        return fused
    t = target._data if isinstance(target, Tensor) else None
    if (t is not None and t.dtype.kind in "iu" and weight is None and label_smoothing == 0.0
            and isinstance(input, Tensor) and input.ndim == 2 and input._data.dtype.kind == "f"
            and xp(input._data) is np and xp(t) is np):
        _check_reduction(reduction)
        return _index_cross_entropy(input, t, ignore_index, reduction)
    return _coef_loss("cross_entropy", input, target, weight, ignore_index, reduction, label_smoothing, True)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,  # noqa: A002
             reduction="mean"):
    t = target._data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold class indices (an integer tensor), got dtype {t.dtype}")
    return _coef_loss("nll_loss", input, target, weight, ignore_index, reduction, 0.0, False)


# ---- regression ----------------------------------------------------------------------------
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    _same_shape("mse_loss", input, target)
    diff = input - target
    return _reduce(diff * diff, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    _same_shape("l1_loss", input, target)
    return _reduce(abs_(input - target), reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):  # noqa: A002
    _same_shape("smooth_l1_loss", input, target)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    diff = abs_(input - target)
    if beta == 0:
        return _reduce(diff, reduction)
    return _reduce(where(diff < beta, diff * diff * (0.5 / beta), diff - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):  # noqa: A002
    _same_shape("huber_loss", input, target)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    diff = abs_(input - target)
    return _reduce(where(diff < delta, diff * diff * 0.5, (diff - 0.5 * delta) * delta), reduction)


# ---- binary --------------------------------------------------------------------------------
def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                         reduction="mean"):
    """-(t log p + (1 - t) log(1 - p)) with the logs clamped at -100 like PyTorch."""
    _same_shape("binary_cross_entropy", input, target)
    d = input._data
    if d.size and (d.min() < 0 or d.max() > 1):
        raise ValueError("binary_cross_entropy: all input values must be probabilities in [0, 1]; "
                         "use binary_cross_entropy_with_logits for raw scores")
    loss = -(target * clamp(log(input), min=-100.0) + (1 - target) * clamp(log(1 - input), min=-100.0))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


class _BCEWithLogits(Function):
    """Elementwise (1 - t) x + lw * softplus(-x) with lw = 1 + (pos_weight - 1) t, where
    softplus(-x) = log1p(exp(-|x|)) + max(-x, 0) never overflows; d/dx = (1 - t) - lw * sigmoid(-x)."""

    @staticmethod
    def forward(ctx, x, target, pos_weight):
        xd, td = x._data, target._data
        m = xp(xd)
        softplus_neg = m.log1p(m.exp(-m.abs(xd))) + m.maximum(-xd, 0)
        pw = None if pos_weight is None else pos_weight._data
        lw = 1.0 if pw is None else 1 + (pw - 1) * td
        ctx.save_for_backward(x, target)
        ctx.softplus_neg, ctx.lw, ctx.pw = softplus_neg, lw, pw
        return make(((1 - td) * xd + lw * softplus_neg).astype(xd.dtype, copy=False))

    @staticmethod
    def backward(ctx, grad):
        x, target = ctx.saved_tensors
        g, xd, td = grad._data, x._data, target._data
        gx = gt = gpw = None
        if ctx.needs_input_grad[0]:
            sig_neg = 0.5 * (1 - xp(xd).tanh(0.5 * xd))  # sigmoid(-x) without overflow
            gx = make((g * ((1 - td) - ctx.lw * sig_neg)).astype(xd.dtype, copy=False))
        if ctx.needs_input_grad[1]:
            dlw = 0.0 if ctx.pw is None else (ctx.pw - 1) * ctx.softplus_neg
            gt = make((g * (dlw - xd)).astype(xd.dtype, copy=False))
        if ctx.needs_input_grad[2]:
            full = g * td * ctx.softplus_neg
            gpw = sum_to(make(full), ctx.pw.shape)
        return gx, gt, gpw


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                                     reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable node (see _BCEWithLogits)."""
    _same_shape("binary_cross_entropy_with_logits", input, target)
    loss = _BCEWithLogits.apply(input, target, pos_weight)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


__all__ = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits"]
