"""Every differentiable op: forward against numpy in float64 (and float32), gradients by gradcheck,
forward and gradients against torch when it is installed."""
import math
from dataclasses import dataclass

import numpy as np
import pytest

import tensorforge as tf
from helpers import assert_close, random_array, to_torch, torch_module


_np_erf = np.vectorize(math.erf)


def _np_softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_logsumexp(a, axis, keepdims=False):
    m = a.max(axis=axis, keepdims=True)
    out = np.log(np.exp(a - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


@dataclass
class Op:
    name: str
    shapes: list
    fn: object  # the same call works on tensorforge and torch tensors
    ref: object  # numpy float64 reference
    low: float = -2.0
    high: float = 2.0
    away_from: tuple = ()
    f32_tol: float = 1e-5


OPS = [
    # arithmetic with broadcasting
    Op("add", [(3, 4), (3, 4)], lambda a, b: a + b, lambda a, b: a + b),
    Op("add_bcast", [(3, 1, 5), (4, 1)], lambda a, b: a + b, lambda a, b: a + b),
    Op("sub_bcast", [(7,), (2, 7)], lambda a, b: a - b, lambda a, b: a - b),
    Op("mul_bcast", [(2, 3, 1), (1, 4)], lambda a, b: a * b, lambda a, b: a * b),
    Op("div", [(3, 5), (3, 5)], lambda a, b: a / b, lambda a, b: a / b, low=0.5, high=2.0),
    Op("div_bcast_0d", [(4, 3), ()], lambda a, b: a / b, lambda a, b: a / b, low=0.5, high=2.0),
    Op("scalar_ops", [(5, 3)], lambda a: (2.5 - a) * 3 + a / 4 - 1, lambda a: (2.5 - a) * 3 + a / 4 - 1),
    Op("rdiv", [(6,)], lambda a: 2.0 / a, lambda a: 2.0 / a, low=0.5, high=2.0),
    Op("pow_scalar", [(3, 4)], lambda a: a ** 3, lambda a: a ** 3),
    Op("pow_frac", [(3, 4)], lambda a: a ** 1.5, lambda a: a ** 1.5, low=0.2, high=2.0),
    Op("pow_tensor", [(3, 4), (3, 4)], lambda a, b: a ** b, lambda a, b: a ** b, low=0.3, high=2.0),
    Op("rpow", [(5,)], lambda a: 2.0 ** a, lambda a: 2.0 ** a),
    Op("neg", [(4, 5)], lambda a: -a, lambda a: -a),
    # math
    Op("exp", [(3, 7)], lambda a: a.exp(), np.exp),
    Op("log", [(3, 7)], lambda a: a.log(), np.log, low=0.1, high=3.0),
    Op("sqrt", [(3, 7)], lambda a: a.sqrt(), np.sqrt, low=0.1, high=3.0),
    Op("rsqrt", [(3, 7)], lambda a: a.rsqrt(), lambda a: 1 / np.sqrt(a), low=0.1, high=3.0),
    Op("abs", [(3, 7)], lambda a: a.abs(), np.abs, away_from=(0,)),
    Op("sin", [(3, 7)], lambda a: a.sin(), np.sin),
    Op("cos", [(3, 7)], lambda a: a.cos(), np.cos),
    Op("tanh", [(3, 7)], lambda a: a.tanh(), np.tanh),
    Op("sigmoid", [(3, 7)], lambda a: a.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), low=-6, high=6),
    Op("relu", [(3, 7)], lambda a: a.relu(), lambda a: np.maximum(a, 0), away_from=(0,)),
    Op("erf", [(3, 7)], lambda a: a.erf(), _np_erf, f32_tol=1e-5),
    Op("clamp", [(4, 6)], lambda a: a.clamp(-0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), away_from=(-0.5, 0.7)),
    Op("clamp_min", [(4, 6)], lambda a: a.clamp(min=0.1), lambda a: np.maximum(a, 0.1), away_from=(0.1,)),
    # reductions
    Op("sum_all", [(3, 5)], lambda a: a.sum(), lambda a: a.sum()),
    Op("sum_dim", [(3, 5, 2)], lambda a: a.sum(1), lambda a: a.sum(1)),
    Op("sum_dims_keep", [(3, 5, 2)], lambda a: a.sum((0, 2), keepdim=True), lambda a: a.sum((0, 2), keepdims=True)),
    Op("mean_all", [(3, 5)], lambda a: a.mean(), lambda a: a.mean()),
    Op("mean_dim", [(3, 5, 2)], lambda a: a.mean(-1, keepdim=True), lambda a: a.mean(-1, keepdims=True)),
    Op("max_all", [(4, 5)], lambda a: a.max(), lambda a: a.max()),
    Op("max_dim", [(4, 5)], lambda a: a.max(1)[0], lambda a: a.max(1)),
    Op("min_dim_keep", [(4, 5)], lambda a: a.min(0, keepdim=True).values, lambda a: a.min(0, keepdims=True)),
    Op("min_all", [(4, 5)], lambda a: a.min(), lambda a: a.min()),
    Op("var_dim", [(4, 6)], lambda a: a.var(1), lambda a: a.var(1, ddof=1)),
    Op("var_all_biased", [(4, 6)], lambda a: a.var(unbiased=False), lambda a: a.var()),
    Op("std_keep", [(4, 6)], lambda a: a.std(0, keepdim=True), lambda a: a.std(0, ddof=1, keepdims=True)),
    Op("logsumexp", [(4, 6)], lambda a: a.logsumexp(1), lambda a: _np_logsumexp(a, 1)),
    Op("logsumexp_keep", [(3, 4, 5)], lambda a: a.logsumexp(0, keepdim=True), lambda a: _np_logsumexp(a, 0, True)),
    Op("prod_all", [(2, 3)], lambda a: a.prod(), lambda a: a.prod(), low=0.5, high=1.5),
    Op("prod_dim", [(3, 4)], lambda a: a.prod(1), lambda a: a.prod(1)),
    Op("softmax", [(4, 7)], lambda a: a.softmax(-1), lambda a: _np_softmax(a, -1)),
    Op("softmax_dim0", [(4, 3, 2)], lambda a: a.softmax(0), lambda a: _np_softmax(a, 0)),
    Op("log_softmax", [(4, 7)], lambda a: a.log_softmax(1), lambda a: np.log(_np_softmax(a, 1))),
    # shape
    Op("reshape", [(3, 4)], lambda a: a.reshape(2, 6) * 2, lambda a: a.reshape(2, 6) * 2),
    Op("view", [(3, 4)], lambda a: a.view(-1, 2), lambda a: a.reshape(-1, 2)),
    Op("flatten", [(2, 3, 4)], lambda a: a.flatten(1), lambda a: a.reshape(2, 12)),
    Op("transpose", [(2, 3, 4)], lambda a: a.transpose(0, 2), lambda a: a.transpose(2, 1, 0)),
    Op("permute", [(2, 3, 4)], lambda a: a.permute(1, 2, 0), lambda a: a.transpose(1, 2, 0)),
    Op("squeeze_unsqueeze", [(3, 1, 4)], lambda a: a.squeeze(1).unsqueeze(0), lambda a: a.reshape(1, 3, 4)),
    Op("expand", [(3, 1)], lambda a: a.expand(2, 3, 4), lambda a: np.broadcast_to(a, (2, 3, 4))),
    Op("contiguous", [(4, 3)], lambda a: a.t().contiguous() * 1, lambda a: a.T.copy()),
    Op("getitem_basic", [(5, 6)], lambda a: a[1:4, ::2], lambda a: a[1:4, ::2]),
    Op("getitem_int_none", [(5, 6)], lambda a: a[2, None, -3:], lambda a: a[2, None, -3:]),
    Op("cat", [(2, 3), (4, 3)], lambda a, b: tf_or_torch(a).cat([a, b], 0), lambda a, b: np.concatenate([a, b])),
    Op("stack", [(2, 3), (2, 3)], lambda a, b: tf_or_torch(a).stack([a, b], 1), lambda a, b: np.stack([a, b], 1)),
    Op("split", [(7, 2)], lambda a: a.split(3)[2] * a.split(3)[0][:1], lambda a: a[6:7] * a[0:1]),
    Op("chunk", [(2, 7)], lambda a: a.chunk(3, 1)[1], lambda a: a[:, 3:6]),
    Op("where", [(3, 4), (3, 4), (4,)], lambda c, a, b: tf_or_torch(a).where(c > 0, a, b),
       lambda c, a, b: np.where(c > 0, a, b)),
    Op("masked_fill", [(3, 4), (3, 4)], lambda c, a: a.masked_fill(c > 0, -1.5), lambda c, a: np.where(c > 0, -1.5, a)),
    # matmul
    Op("matmul_2d", [(5, 3), (3, 7)], lambda a, b: a @ b, lambda a, b: a @ b, f32_tol=1e-5),
    Op("matmul_batched_bcast", [(2, 1, 3, 4), (3, 4, 2)], lambda a, b: a @ b, lambda a, b: a @ b),
    Op("matmul_nd_2d", [(2, 3, 4), (4, 5)], lambda a, b: a @ b, lambda a, b: a @ b),
    Op("matmul_vec", [(4,), (4, 3)], lambda a, b: a @ b, lambda a, b: a @ b),
    Op("matmul_mat_vec", [(3, 4), (4,)], lambda a, b: a @ b, lambda a, b: a @ b),
    Op("matmul_dot", [(5,), (5,)], lambda a, b: a @ b, lambda a, b: a @ b),
    Op("matmul_transposed_views", [(4, 3), (5, 4)], lambda a, b: a.t() @ b.t(), lambda a, b: a.T @ b.T),
    # activations (nn.functional)
    Op("gelu", [(4, 5)], lambda a: fn_of(a).gelu(a), lambda a: 0.5 * a * (1 + _np_erf(a / np.sqrt(2)))),
    Op("gelu_tanh", [(4, 5)], lambda a: fn_of(a).gelu(a, approximate="tanh"),
       lambda a: 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3)))),
]


def tf_or_torch(t):
    """The module (tensorforge or torch) that t belongs to."""
    if isinstance(t, tf.Tensor):
        return tf
    import torch

    return torch


def fn_of(t):
    """nn.functional of t's library."""
    if isinstance(t, tf.Tensor):
        return tf.nn.functional
    import torch.nn.functional as F

    return F


def _inputs(op, rng):
    return [random_array(rng, s, op.low, op.high, op.away_from) for s in op.shapes]


def _tf(arrays, dtype=np.float64, requires_grad=True):
    return [tf.tensor(a.astype(dtype), requires_grad=requires_grad) for a in arrays]


IDS = [op.name for op in OPS]


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_forward_matches_numpy_float64(op, rng):
    arrays = _inputs(op, rng)
    out = op.fn(*_tf(arrays, requires_grad=False))
    assert out.dtype == tf.float64
    assert_close(out.numpy(), op.ref(*arrays), 1e-12 if op.name not in ("erf", "gelu") else 2e-7)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_forward_float32_close_to_float64_reference(op, rng):
    arrays = _inputs(op, rng)
    out = op.fn(*_tf(arrays, np.float32, requires_grad=False))
    assert out.dtype == tf.float32
    assert_close(out.numpy(), op.ref(*arrays), op.f32_tol)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_gradcheck(op, rng):
    inputs = _tf(_inputs(op, rng))
    assert tf.autograd.gradcheck(op.fn, inputs)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_forward_and_grads_match_torch(op, rng):
    torch = torch_module()
    arrays = _inputs(op, rng)
    ours = _tf(arrays)
    theirs = to_torch(torch, arrays)
    out, ref = op.fn(*ours), op.fn(*theirs)
    assert tuple(out.shape) == tuple(ref.shape)
    assert_close(out.detach().numpy(), ref.detach().numpy(), 1e-12 if op.name not in ("erf", "gelu") else 2e-7)
    weight = rng.standard_normal(tuple(ref.shape))
    (out * tf.tensor(weight)).sum().backward()
    (ref * torch.tensor(weight)).sum().backward()
    for a, b in zip(ours, theirs):
        if b.grad is None:  # e.g. the tensor a condition was computed from
            assert a.grad is None
            continue
        assert_close(a.grad.numpy(), b.grad.numpy(), 1e-10 if op.name not in ("erf", "gelu") else 1e-6)
