"""scaled_dot_product_attention on our fused CPU kernel (tensorforge._C.attention_forward/backward).

PyTorch's semantics: query (..., L, E), key (..., S, E), value (..., S, Ev) with batch dims that
broadcast; attn_mask bool (True = attend) or float (added to the scores), broadcastable to
(..., L, S); is_causal masks j > i (top-left aligned, tril(ones(L, S))); scale defaults to
1/sqrt(E). A query row with nothing to attend to gives zeros (PyTorch 2.13's CPU result).
dropout_p > 0 drops attention weights with a mask drawn by a counter-based hash keyed by a seed
from tensorforge's generator (manual_seed makes it reproducible); the backward regenerates it.
Gradients flow to query, key, value and a float attn_mask; the backward is one fused kernel
(not itself differentiable, so no double backward through attention).
"""
import math

import numpy as np

from .. import _C
from .._backend import xp
from .._creation import default_generator
from . import attention_cuda
from ..autograd.function import Node
from ..autograd.grad_mode import state
from ..tensor import Tensor, edge, make

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _sum_to(a, shape):
    """Sums array a over the leading / size-1 dims that broadcasting added to reach a.shape."""
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and a.shape[i + lead] != 1)
    return a.sum(axis=axes, keepdims=True).reshape(shape) if axes else a


class ScaledDotProductAttentionBackward0(Node):
    __slots__ = ("arrays", "mask", "shapes", "kwargs", "mask_grad")

    def backward(self, g):
        q, k, v, out, lse = self.arrays
        dout = np.ascontiguousarray(g._data, dtype=q.dtype)
        dq, dk, dv = np.empty_like(q), np.empty_like(k), np.empty_like(v)
        dmask = np.zeros(q.shape[:2] + (k.shape[1],), q.dtype) if self.mask_grad else None
        _C.attention_backward(q, k, v, out, lse, dout.reshape(out.shape), dq, dk, dv, mask=self.mask,
                              dmask=dmask, **self.kwargs)
        batch, q_shape, k_shape, v_shape, m_shape = self.shapes
        grads = [make(_sum_to(d.reshape(batch + d.shape[1:]), shp))
                 for d, shp in ((dq, q_shape), (dk, k_shape), (dv, v_shape))]
        if self.mask_grad:
            grads.append(make(_sum_to(dmask.reshape(batch + dmask.shape[1:]), m_shape)))
        return tuple(grads)


def _check_inputs(query, key, value):
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"scaled_dot_product_attention: {name} must be a Tensor, got {type(t).__name__}")
        if t.ndim < 2:
            raise RuntimeError(f"scaled_dot_product_attention: {name} must have at least 2 dims (..., seq, dim), "
                               f"got shape {tuple(t.shape)}")
        if t._data.dtype not in _FLOATS:
            raise TypeError(f"scaled_dot_product_attention: {name} must be float32 or float64, got {t.dtype}")
    if not query._data.dtype == key._data.dtype == value._data.dtype:
        raise TypeError(f"scaled_dot_product_attention: query, key and value must share a dtype, got "
                        f"{query.dtype}, {key.dtype} and {value.dtype}")
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(f"scaled_dot_product_attention: query and key head dims differ: query {tuple(query.shape)}, "
                           f"key {tuple(key.shape)}")
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: key and value sequence lengths differ: key "
                           f"{tuple(key.shape)}, value {tuple(value.shape)}")
    if query.shape[:-2] == key.shape[:-2] == value.shape[:-2]:  # the common case, without numpy's slow path
        return tuple(query.shape[:-2])
    try:
        return np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except ValueError:
        raise RuntimeError(f"scaled_dot_product_attention: batch dims of query {tuple(query.shape)}, key "
                           f"{tuple(key.shape)} and value {tuple(value.shape)} do not broadcast") from None


def _mask_array(attn_mask, dtype, batch, L, S):
    """The mask as an array of shape batch + (L, S) (a broadcast view) with unit stride along S."""
    m = attn_mask._data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
    if m.dtype != np.bool_:
        if m.dtype.kind not in "fiu":
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool or float, got {m.dtype}")
        m = m.astype(dtype, copy=False)
    if m.ndim > len(batch) + 2:
        raise RuntimeError(f"scaled_dot_product_attention: attn_mask {tuple(m.shape)} has more dims than the "
                           f"attention scores {batch + (L, S)}")
    if m.ndim and m.shape[-1] == 1 and S > 1:
        m = np.broadcast_to(m, m.shape[:-1] + (S,))  # the kernel reads rows with unit stride
    if m.ndim and (m.strides[-1] != m.itemsize or min(m.strides) < 0):
        m = np.ascontiguousarray(m)
    try:
        return np.broadcast_to(m, batch + (L, S))
    except ValueError:
        raise RuntimeError(f"scaled_dot_product_attention: attn_mask of shape {tuple(m.shape)} does not broadcast "
                           f"to the attention scores' shape {batch + (L, S)}") from None


def _flat(t, batch):
    """t's array broadcast to batch + its last two dims, as a contiguous (N, seq, dim) array."""
    a = t._data
    if a.shape[:-2] != batch:
        a = np.broadcast_to(a, batch + a.shape[-2:])
    return np.ascontiguousarray(a).reshape((-1,) + a.shape[-2:])


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    batch = _check_inputs(query, key, value)
    if attn_mask is not None and is_causal:
        raise RuntimeError("scaled_dot_product_attention: explicit attn_mask should not be set when is_causal=True")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1), got {dropout_p}")
    dtype = query._data.dtype
    L, E = query.shape[-2:]
    S, Ev = value.shape[-2:]
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)
    if xp(query._data) is not np:  # CUDA tensors: ops/attention_cuda.py
        return attention_cuda.scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, is_causal,
                                                           scale, batch)
    mask = None if attn_mask is None else _mask_array(attn_mask, dtype, batch, L, S)
    q, k, v = _flat(query, batch), _flat(key, batch), _flat(value, batch)
    seed = int(default_generator().integers(0, 2**63)) if dropout_p > 0 else 0
    kwargs = dict(scale=scale, causal=bool(is_causal), dropout_p=float(dropout_p), seed=seed)
    out = np.empty(q.shape[:2] + (Ev,), dtype)
    lse = np.empty(q.shape[:2], dtype)
    _C.attention_forward(q, k, v, out, lse, mask=mask, **kwargs)
    result = make(out.reshape(batch + (L, Ev)))
    mask_grad = isinstance(attn_mask, Tensor) and attn_mask.requires_grad and mask.dtype != np.bool_
    inputs = (query, key, value) + ((attn_mask,) if mask_grad else ())
    if state.enabled and any(t.requires_grad for t in inputs):
        node = ScaledDotProductAttentionBackward0(tuple(edge(t) for t in inputs))
        node.arrays = (q, k, v, out, lse)
        node.mask = mask
        node.mask_grad = mask_grad
        node.kwargs = kwargs
        node.shapes = (batch, query.shape, key.shape, value.shape, attn_mask.shape if mask_grad else None)
        node.save(*inputs)
        result._grad_fn = node
        result.requires_grad = True
    return result
