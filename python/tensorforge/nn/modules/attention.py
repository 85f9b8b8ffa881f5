"""MultiheadAttention on the fused attention kernel, with PyTorch's parameter names and masks.

Parameters as in torch.nn.MultiheadAttention, so its state_dict loads: in_proj_weight (3E, E) and
in_proj_bias (3E,) when kdim == vdim == embed_dim, else q_proj_weight / k_proj_weight /
v_proj_weight; out_proj.weight / out_proj.bias. Masks follow torch's MHA conventions (the
opposite of scaled_dot_product_attention's for booleans): a True in key_padding_mask (B, S) or
attn_mask (L, S) or (B * num_heads, L, S) means "do not attend"; float masks are added.
need_weights=False runs the fused kernel (no L x S buffer); need_weights=True also returns the
attention weights (post-dropout, averaged over heads when average_attn_weights) and therefore
takes the explicit matmul-softmax-matmul path as torch does. Differences from torch: batch_first
defaults to True (the project's convention), and is_causal=True without an attn_mask applies the
causal mask instead of raising. add_bias_kv / add_zero_attn are not supported.
"""
import math

import numpy as np

from ... import _creation
from ..._backend import xp
from ...tensor import Tensor, make
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .linear import Linear
from .module import Module


def _tensor(mask, device):
    """A mask as a Tensor: Tensors as they are, arrays and lists made on `device`."""
    return mask if isinstance(mask, Tensor) else _creation.tensor(np.asarray(mask), device=device)


def _as_additive(mask, dtype):
    """A float (additive) form of a mask Tensor: bools become 0 / -inf (True = blocked), floats pass through."""
    a = mask._data
    if a.dtype == np.bool_:
        return make(xp(a).where(a, -np.inf, 0.0).astype(dtype))
    return mask if a.dtype == dtype else make(a.astype(dtype))


def _attend_bias(mask, dtype):
    """The additive form of a scaled_dot_product_attention mask Tensor (bool True = attend)."""
    a = mask._data
    if a.dtype == np.bool_:
        return make(xp(a).where(a, 0.0, -np.inf).astype(dtype))
    return mask


def merge_masks(attn_mask, key_padding_mask, is_causal, batch, heads, L, S, dtype, device=None):
    """One mask for scaled_dot_product_attention (bool True = attend, or additive float),
    broadcastable to (batch, heads, L, S), plus the is_causal flag left for the kernel. Masks given
    as arrays or lists are made on `device` (the attention inputs' device)."""
    attn_mask = None if attn_mask is None else _tensor(attn_mask, device)
    key_padding_mask = None if key_padding_mask is None else _tensor(key_padding_mask, device)
    parts = []
    if attn_mask is not None:
        shape = tuple(attn_mask.shape)
        if shape == (L, S):
            parts.append(attn_mask)
        elif shape == (batch * heads, L, S):
            parts.append(attn_mask.reshape(batch, heads, L, S))
        else:
            raise RuntimeError(f"attn_mask should have shape {(L, S)} or {(batch * heads, L, S)}, got {shape}")
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (batch, S):
            raise RuntimeError(f"key_padding_mask should have shape {(batch, S)}, got {tuple(key_padding_mask.shape)}")
        parts.append(key_padding_mask.reshape(batch, 1, 1, S))
    if not parts:
        return None, is_causal
    if is_causal and attn_mask is None:
        parts.append(make(~xp(parts[0]._data).tri(L, S, dtype=bool)))
    if all(p._data.dtype == np.bool_ for p in parts):
        blocked = xp(parts[0]._data).zeros((1, 1, 1, 1), bool)
        for p in parts:
            blocked = blocked | p._data
        return make(~blocked), False
    total = None
    for p in parts:
        add = _as_additive(p, dtype)
        total = add if total is None else total + add
    return total, False


class MultiheadAttention(Module):
    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=True, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be a positive multiple of num_heads ({num_heads})")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are not supported")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        kw = dict(dtype=dtype, device=device)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(_creation.empty(3 * embed_dim, embed_dim, **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = Parameter(_creation.empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(_creation.empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(_creation.empty(embed_dim, self.vdim, **kw))
        if bias:
            self.in_proj_bias = Parameter(_creation.empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **kw)
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)

    def _project(self, query, key, value):
        E = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            if query is key and key is value:
                return F.linear(query, w, b).chunk(3, dim=-1)
            wq, wk, wv = w[:E], w[E:2 * E], w[2 * E:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.reshape(1, -1)
        elif not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if query.ndim != 3 or key.ndim != 3 or value.ndim != 3:
            raise ValueError(f"MultiheadAttention expects 2-D or 3-D query/key/value, got {tuple(query.shape)}, "
                             f"{tuple(key.shape)}, {tuple(value.shape)}")
        B, L, _ = query.shape
        S = key.shape[1]
        if query.shape[-1] != self.embed_dim or key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise ValueError(f"MultiheadAttention(embed_dim={self.embed_dim}, kdim={self.kdim}, vdim={self.vdim}) "
                             f"got query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}")
        if value.shape[:2] != key.shape[:2] or key.shape[0] != B:
            raise ValueError(f"MultiheadAttention: key {tuple(key.shape)} and value {tuple(value.shape)} must share "
                             f"batch and sequence dims with batch {B}")
        H, D = self.num_heads, self.head_dim
        q, k, v = self._project(query, key, value)
        q, k, v = (t.reshape(B, t.shape[1], H, D).transpose(1, 2) for t in (q, k, v))
        mask, causal = merge_masks(attn_mask, key_padding_mask, is_causal, B, H, L, S, q.dtype.np, q.device)
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            scores = (q @ k.mT) * (1.0 / math.sqrt(D))
            if causal:
                mask = make(xp(q._data).tri(L, S, dtype=bool))
            if mask is not None:
                scores = scores + _attend_bias(mask, q.dtype.np)
            weights = F.softmax(scores, dim=-1)
            if p > 0:
                weights = F.dropout(weights, p)
            out = weights @ v
            if average_attn_weights:
                weights = weights.mean(dim=1)
            if unbatched:
                weights = weights.squeeze(0)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
        out = self.out_proj(out.transpose(1, 2).reshape(B, L, self.embed_dim))
        if unbatched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"batch_first={self.batch_first}")
