"""Gradient clipping in place (PyTorch's torch.nn.utils.clip_grad_norm_ / clip_grad_value_)."""
import math

import numpy as np

from ..._backend import xp
from ...tensor import Tensor, make


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _norm(array, norm_type):
    """The norm_type-norm of all elements of one array, as a Python float."""
    a = array.reshape(-1)
    if a.size == 0:
        return 0.0
    if norm_type == math.inf:
        return float(xp(a).abs(a).max())
    if norm_type == -math.inf:
        return float(xp(a).abs(a).min())
    if norm_type == 0:
        return float((a != 0).sum())
    if norm_type == 2:
        return float(xp(a).sqrt(xp(a).vdot(a, a)))
    return float((xp(a).abs(a).astype(np.float64) ** norm_type).sum() ** (1.0 / norm_type))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scales all gradients together so that their joint norm is at most max_norm; returns that norm
    (before clipping) as a 0-d Tensor. Gradients are multiplied by min(1, max_norm / (norm + 1e-6)).
    `foreach` is accepted for PyTorch compatibility."""
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return make(np.zeros((), np.float32))
    if xp(grads[0]._data) is not np:
        return _clip_on_device(grads, float(max_norm), norm_type, error_if_nonfinite)
    norms = [_norm(g._data, norm_type) for g in grads]
    if norm_type == math.inf:
        total = max(norms)
    elif norm_type == -math.inf:
        total = min(norms)
    elif norm_type == 0:
        total = sum(norms)
    else:
        total = float(np.sum(np.asarray(norms, np.float64) ** norm_type) ** (1.0 / norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    coef = min(float(max_norm) / (total + 1e-6), 1.0)
    for g in grads:
        g._data *= g._data.dtype.type(coef)
        g._bump_version()
    return make(xp(grads[0]._data).asarray(total, dtype=grads[0]._data.dtype))  # on the gradients' device


def _device_norm(a, norm_type):
    """The norm_type-norm of one device array as a 0-d float32/64 device array (no host sync)."""
    m = xp(a)
    a = a.reshape(-1)
    if a.size == 0:
        return m.zeros((), a.dtype)
    if norm_type == math.inf:
        return m.abs(a).max()
    if norm_type == -math.inf:
        return m.abs(a).min()
    if norm_type == 0:
        return (a != 0).sum().astype(a.dtype)
    if norm_type == 2:
        return m.sqrt(m.vdot(a, a))
    return (m.abs(a) ** norm_type).sum() ** (1.0 / norm_type)


def _clip_on_device(grads, max_norm, norm_type, error_if_nonfinite):
    """clip_grad_norm_ on GPU gradients: the norms, the total and the scale stay on the device, so the
    only host round trip is error_if_nonfinite's check (as in PyTorch)."""
    m = xp(grads[0]._data)
    norms = m.stack([_device_norm(g._data, norm_type).astype(grads[0]._data.dtype) for g in grads])
    if norm_type == math.inf:
        total = norms.max()
    elif norm_type == -math.inf:
        total = norms.min()
    elif norm_type == 0:
        total = norms.sum()
    else:
        total = (norms ** norm_type).sum() ** (1.0 / norm_type)
    if error_if_nonfinite and not bool(m.isfinite(total)):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    coef = m.minimum(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g._data *= coef.astype(g._data.dtype)
        g._bump_version()
    return make(total)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamps every gradient element into [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        xp(g._data).clip(g._data, -clip_value, clip_value, out=g._data)
        g._bump_version()
