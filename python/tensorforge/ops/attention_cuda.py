"""scaled_dot_product_attention on CUDA tensors: our fused CUDA kernel (tensorforge.cuda.attention_forward /
attention_backward) for float32 with the value head dim equal to the query's, head dim <= 128, no dropout
and no gradient for the mask; anything else is composed from cupy-backed tensor ops (matmul, softmax,
dropout), which autograd differentiates (a query whose keys are all masked gives NaN there, as PyTorch's
math path does, where the kernel gives zeros). The kernel's products follow
tensorforge.set_float32_matmul_precision ("highest" by default: float32; "high" / "medium": tf32 /
bfloat16 tensor cores where they cover the head dim), read at the forward and kept for its backward."""
import numpy as np

from .._backend import check_same_device, xp
from ..autograd.function import Node
from ..autograd.grad_mode import state
from ..tensor import Tensor, edge, make

_F32 = np.dtype(np.float32)


def _cuda():
    from .. import cuda

    return cuda


def _sum_to(a, shape):
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and a.shape[i + lead] != 1)
    return a.sum(axis=axes, keepdims=True).reshape(shape) if axes else a


def _flat4(a, batch):
    """a broadcast to batch + its last two dims, as a contiguous (1, N, seq, dim) array on its device."""
    m = xp(a)
    return m.ascontiguousarray(m.broadcast_to(a, batch + a.shape[-2:])).reshape((1, -1) + a.shape[-2:])


class ScaledDotProductAttentionCudaBackward0(Node):
    __slots__ = ("arrays", "mask", "causal", "scale", "shapes", "precision")

    def backward(self, g):
        q, k, v, out, lse = self.arrays
        dout = xp(q).ascontiguousarray(g._data, dtype=q.dtype).reshape(out.shape)
        dq, dk, dv = _cuda().attention_backward(dout, q, k, v, out, lse, self.mask, self.causal, self.scale,
                                                precision=self.precision)
        batch, shapes = self.shapes[0], self.shapes[1:]
        return tuple(make(_sum_to(d.reshape(batch + d.shape[2:]), shp)) for d, shp in zip((dq, dk, dv), shapes))


def _mask(attn_mask, batch, L, S):
    m = attn_mask._data if isinstance(attn_mask, Tensor) else xp(np.empty(0)).asarray(attn_mask)
    if m.dtype != np.bool_:
        if m.dtype.kind not in "fiu":
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool or float, got {m.dtype}")
        m = m.astype(_F32, copy=False)
    try:
        return _flat4(m, batch) if m.ndim >= 2 else _flat4(xp(m).broadcast_to(m, (L, S)), batch)
    except ValueError:
        raise RuntimeError(f"scaled_dot_product_attention: attn_mask of shape {tuple(m.shape)} does not broadcast "
                           f"to the attention scores' shape {batch + (L, S)}") from None


def _composed(query, key, value, attn_mask, dropout_p, is_causal, scale):
    """softmax(scale * q k^T + mask) v from tensor ops (cupy underneath), differentiated by autograd."""
    from .dropout import dropout
    from .elementwise import masked_fill

    scores = (query @ key.transpose(-2, -1)) * scale
    L, S = scores.shape[-2:]
    if is_causal:
        scores = masked_fill(scores, make(~xp(scores._data).tri(L, S, dtype=bool)), float("-inf"))
    if attn_mask is not None:
        if not isinstance(attn_mask, Tensor):
            attn_mask = make(xp(scores._data).asarray(attn_mask))
        if attn_mask._data.dtype == np.bool_:
            scores = masked_fill(scores, ~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    p = scores.softmax(-1)
    if dropout_p > 0:
        p = dropout(p, dropout_p)
    return p @ value


def scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, is_causal, scale, batch):
    """The CUDA half of ops.attention.scaled_dot_product_attention (inputs already checked; scale set)."""
    check_same_device(query._data, key._data, value._data, attn_mask._data if isinstance(attn_mask, Tensor) else None)
    L, E = query.shape[-2:]
    S, Ev = value.shape[-2:]
    mask_grad = isinstance(attn_mask, Tensor) and attn_mask.requires_grad
    if query._data.dtype != _F32 or E != Ev or E > 128 or dropout_p > 0 or mask_grad:
        return _composed(query, key, value, attn_mask, dropout_p, is_causal, scale)
    mask = None if attn_mask is None else _mask(attn_mask, batch, L, S)
    q, k, v = _flat4(query._data, batch), _flat4(key._data, batch), _flat4(value._data, batch)
    precision = _cuda().get_float32_matmul_precision()
    out, lse = _cuda().attention_forward(q, k, v, mask, bool(is_causal), scale, precision=precision)
    result = make(out.reshape(batch + (L, Ev)))
    inputs = (query, key, value)
    if state.enabled and any(t.requires_grad for t in inputs):
        node = ScaledDotProductAttentionCudaBackward0(tuple(edge(t) for t in inputs))
        node.arrays = (q, k, v, out, lse)
        node.mask, node.causal, node.scale, node.precision = mask, bool(is_causal), scale, precision
        node.shapes = (batch, query.shape, key.shape, value.shape)
        result._grad_fn = node
        result.requires_grad = True
    return result
