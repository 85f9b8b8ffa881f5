"""embedding: rows of a weight table picked by integer indices; the backward scatter-adds the
output gradient into those rows (never into padding_idx), through _kernels.index_add."""
import numpy as np

from .._backend import check_same_device, xp
from ..autograd.function import Function
from ._kernels import index_add
from ..tensor import Tensor, make


class _Embedding(Function):
    @staticmethod
    def forward(ctx, indices, weight, padding_idx):
        ctx.indices, ctx.num_rows, ctx.padding_idx = indices, weight.shape[0], padding_idx
        return make(weight._data[indices])

    @staticmethod
    def backward(ctx, grad):
        g = grad._data
        gw = xp(g).zeros((ctx.num_rows,) + g.shape[ctx.indices.ndim:], g.dtype)
        index_add(gw, ctx.indices.reshape(-1), g.reshape((-1,) + gw.shape[1:]))
        if ctx.padding_idx is not None:
            gw[ctx.padding_idx] = 0
        return None, make(gw), None


def _normalize_padding_idx(padding_idx, num_embeddings):
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"padding_idx {padding_idx} must be within num_embeddings {num_embeddings}")
    return padding_idx % num_embeddings


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,  # noqa: A002
              sparse=False):
    idx = input._data if isinstance(input, Tensor) else xp(weight._data).asarray(np.asarray(input))
    check_same_device(weight._data, idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding(): indices must be an integer tensor, got dtype {idx.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding(): weight must be 2-D (num_embeddings, embedding_dim), got {tuple(weight.shape)}")
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)].reshape(-1)[0]
        raise IndexError(f"embedding(): index {bad} is out of range for a table of {n} rows")
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding(): max_norm, scale_grad_by_freq and sparse are not supported yet")
    return _Embedding.apply(idx, weight, _normalize_padding_idx(padding_idx, n))
