"""Pooling: max (with indices), average and adaptive average, forward and backward, against a
float64 numpy reference (loops over windows) on every SIMD path and 1 and 2 threads with
poisoned outputs; against torch (ceil_mode, count_include_pad, divisor_override); gradcheck;
nn modules; clear errors."""
import math

import numpy as np
import pytest

import tensorforge as tf
import tensorforge.nn.functional as F

from helpers import assert_close, random_array, to_torch, torch_module
from isa_threads import isa, threads  # noqa: F401 - fixtures


def _out(size, k, s, p, d, ceil):
    num = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)
    out = num // s + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def ref_max(x, k, s, p, d, ceil):
    """Max values and flat argmax indices within each plane."""
    n, c, h, w = x.shape
    oh, ow = _out(h, k[0], s[0], p[0], d[0], ceil), _out(w, k[1], s[1], p[1], d[1], ceil)
    y = np.empty((n, c, oh, ow))
    idx = np.empty((n, c, oh, ow), np.int64)
    for i in range(oh):
        for j in range(ow):
            rows = [r for r in (i * s[0] - p[0] + a * d[0] for a in range(k[0])) if 0 <= r < h]
            cols = [q for q in (j * s[1] - p[1] + b * d[1] for b in range(k[1])) if 0 <= q < w]
            win = x[:, :, rows][:, :, :, cols].reshape(n, c, -1)
            am = win.argmax(axis=2)
            y[:, :, i, j] = win.max(axis=2)
            idx[:, :, i, j] = np.array(rows)[am // len(cols)] * w + np.array(cols)[am % len(cols)]
    return y, idx


def ref_max_backward(dy, idx, shape):
    dx = np.zeros((shape[0] * shape[1], shape[2] * shape[3]))
    for pl in range(dx.shape[0]):
        np.add.at(dx[pl], idx.reshape(dx.shape[0], -1)[pl], dy.reshape(dx.shape[0], -1)[pl])
    return dx.reshape(shape)


def avg_windows(h, w, k, s, p, ceil, count_include_pad, divisor_override):
    """(i, j, rows, cols, divisor) for every output of an average pool, by PyTorch's definition."""
    oh, ow = _out(h, k[0], s[0], p[0], 1, ceil), _out(w, k[1], s[1], p[1], 1, ceil)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * s[0] - p[0], j * s[1] - p[1]
            r1, c1 = min(r0 + k[0], h + p[0]), min(c0 + k[1], w + p[1])
            padded = (r1 - r0) * (c1 - c0)
            rows, cols = range(max(r0, 0), min(r1, h)), range(max(c0, 0), min(c1, w))
            div = divisor_override or (padded if count_include_pad else len(rows) * len(cols))
            yield i, j, rows, cols, div


def adaptive_windows(h, w, oh, ow):
    for i in range(oh):
        for j in range(ow):
            rows = range(i * h // oh, math.ceil((i + 1) * h / oh))
            cols = range(j * w // ow, math.ceil((j + 1) * w / ow))
            yield i, j, rows, cols, len(rows) * len(cols)


def ref_window_pool(x, dy, windows, out_hw):
    y = np.zeros(x.shape[:2] + out_hw)
    dx = np.zeros(x.shape)
    for i, j, rows, cols, div in windows:
        if len(rows) and len(cols):
            y[:, :, i, j] = x[:, :, rows.start:rows.stop, cols.start:cols.stop].sum(axis=(2, 3)) / div
            dx[:, :, rows.start:rows.stop, cols.start:cols.stop] += (dy[:, :, i, j] / div)[:, :, None, None]
    return y, dx


# (input shape, kernel, stride, padding, dilation, ceil_mode)
MAX_CASES = [
    ((2, 3, 28, 28), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((3, 2, 9, 11), (3, 3), (2, 2), (1, 1), (1, 1), False),
    ((3, 2, 9, 11), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((1, 4, 10, 7), (3, 2), (1, 2), (1, 0), (2, 1), True),
    ((2, 5, 7, 7), (7, 7), (1, 1), (3, 3), (1, 1), False),
    ((1, 1, 1, 1), (1, 1), (1, 1), (0, 0), (1, 1), False),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,k,s,p,d,ceil", MAX_CASES)
def test_max_pool_matches_reference(rng, isa, threads, shape, k, s, p, d, ceil, dtype):
    x = random_array(rng, shape).astype(dtype)
    y_ref, idx_ref = ref_max(x, k, s, p, d, ceil)
    xt = tf.tensor(x, requires_grad=True)
    y, idx = F.max_pool2d(xt, k, s, p, d, ceil_mode=ceil, return_indices=True)
    assert y.dtype == xt.dtype and idx.dtype == tf.int64
    assert_close(y.detach().numpy(), y_ref, 0)
    np.testing.assert_array_equal(idx.numpy(), idx_ref)
    dy = random_array(rng, y_ref.shape).astype(dtype)
    y.backward(tf.tensor(dy))
    assert_close(xt.grad.numpy(), ref_max_backward(dy, idx_ref, shape), 1e-6 if dtype == np.float32 else 1e-15)


# (input shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
AVG_CASES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), False, True, None),
    ((3, 2, 9, 11), (3, 3), (2, 2), (1, 1), False, True, None),
    ((3, 2, 9, 11), (3, 3), (2, 2), (1, 1), True, False, None),
    ((1, 4, 10, 7), (3, 2), (2, 3), (1, 1), True, True, None),
    ((2, 2, 7, 6), (4, 3), (1, 2), (2, 1), False, False, 5),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,k,s,p,ceil,cip,div", AVG_CASES)
def test_avg_pool_matches_reference(rng, isa, threads, shape, k, s, p, ceil, cip, div, dtype):
    x = random_array(rng, shape).astype(dtype)
    out_hw = (_out(shape[2], k[0], s[0], p[0], 1, ceil), _out(shape[3], k[1], s[1], p[1], 1, ceil))
    dy = random_array(rng, shape[:2] + out_hw).astype(dtype)
    y_ref, dx_ref = ref_window_pool(x, dy, avg_windows(shape[2], shape[3], k, s, p, ceil, cip, div), out_hw)
    xt = tf.tensor(x, requires_grad=True)
    y = F.avg_pool2d(xt, k, s, p, ceil_mode=ceil, count_include_pad=cip, divisor_override=div)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    assert_close(y.detach().numpy(), y_ref, tol)
    y.backward(tf.tensor(dy))
    assert_close(xt.grad.numpy(), dx_ref, tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,out_hw", [((2, 3, 7, 7), (1, 1)), ((2, 3, 10, 7), (3, 4)), ((1, 2, 5, 9), (5, 9)),
                                          ((3, 1, 4, 4), (6, 5))])
def test_adaptive_avg_pool_matches_reference(rng, isa, threads, shape, out_hw, dtype):
    x = random_array(rng, shape).astype(dtype)
    dy = random_array(rng, shape[:2] + out_hw).astype(dtype)
    y_ref, dx_ref = ref_window_pool(x, dy, adaptive_windows(shape[2], shape[3], *out_hw), out_hw)
    xt = tf.tensor(x, requires_grad=True)
    y = F.adaptive_avg_pool2d(xt, out_hw)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    assert_close(y.detach().numpy(), y_ref, tol)
    y.backward(tf.tensor(dy))
    assert_close(xt.grad.numpy(), dx_ref, tol)


@pytest.mark.parametrize("name,args,kwargs", [
    ("max_pool2d", (3,), dict(stride=2, padding=1, ceil_mode=True)),
    ("max_pool2d", ((2, 3),), dict(stride=(1, 2), dilation=(2, 1))),
    ("avg_pool2d", (3,), dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ("avg_pool2d", ((3, 2),), dict(stride=1, padding=(1, 1), divisor_override=4)),
    ("adaptive_avg_pool2d", ((4, None),), {}),
    ("adaptive_avg_pool2d", (3,), {}),
])
@pytest.mark.parametrize("shape", [(2, 3, 9, 8), (3, 7, 10)])
def test_matches_torch(rng, name, args, kwargs, shape):
    torch = torch_module()
    x = random_array(rng, shape)
    (tx,) = to_torch(torch, [x])
    xt = tf.tensor(x, requires_grad=True)
    ref = getattr(torch.nn.functional, name)(tx, *args, **kwargs)
    out = getattr(F, name)(xt, *args, **kwargs)
    assert out.shape == tuple(ref.shape)
    assert_close(out.detach().numpy(), ref.detach().numpy(), 1e-14)
    dy = random_array(rng, tuple(ref.shape))
    ref.backward(torch.tensor(dy))
    out.backward(tf.tensor(dy))
    assert_close(xt.grad.numpy(), tx.grad.numpy(), 1e-14)


@pytest.mark.parametrize("fn", [
    lambda x: F.max_pool2d(x, 2, 1, 1),
    lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
    lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
])
def test_gradcheck(rng, fn):
    x = tf.tensor(random_array(rng, (2, 2, 5, 6)), requires_grad=True)
    assert tf.autograd.gradcheck(fn, [x])


def test_max_pool_nan_and_modules(rng):
    x = np.array([[[[1.0, np.nan], [3.0, 2.0]]]])
    assert np.isnan(F.max_pool2d(tf.tensor(x), 2).numpy()).all()
    t = tf.tensor(random_array(rng, (2, 3, 8, 9)).astype(np.float32))
    assert tf.nn.MaxPool2d(2)(t).shape == (2, 3, 4, 4)
    out, idx = tf.nn.MaxPool2d(3, stride=2, padding=1, return_indices=True)(t)
    assert out.shape == idx.shape == (2, 3, 4, 5)
    assert_close(tf.nn.AvgPool2d(2, stride=1)(t).numpy(), F.avg_pool2d(t, 2, 1).numpy(), 0)
    assert tf.nn.AdaptiveAvgPool2d(1)(t).shape == (2, 3, 1, 1)
    assert_close(tf.nn.AdaptiveAvgPool2d((1, 1))(t).numpy().reshape(2, 3), t.numpy().mean(axis=(2, 3)), 1e-6)


@pytest.mark.parametrize("kw", [
    dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=(3, 2), stride=(2, 3), dilation=(2, 1)),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
])
def test_max_pool_ties_nan_and_minus_inf_match_torch(rng, threads, kw):
    """Row-wise branch-free max: equal maxima keep the first tap, a NaN wins (the last one in tap
    order), an all -inf window names its first in-image tap; values and indices as torch's."""
    torch = torch_module()
    x = rng.integers(0, 3, (2, 3, 11, 13)).astype(np.float32)
    x[rng.random(x.shape) < 0.03] = np.nan
    x[0, 0, :4, :5] = -np.inf
    out, idx = F.max_pool2d(tf.tensor(x), return_indices=True, **kw)
    ref, ref_idx = torch.nn.functional.max_pool2d(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())


@pytest.mark.parametrize("call,exc,match", [
    (lambda x: F.max_pool2d(x, 3, padding=2), RuntimeError, "pad should be at most half"),
    (lambda x: F.avg_pool2d(x, 2, padding=2), RuntimeError, "pad should be at most half"),
    (lambda x: F.max_pool2d(x, 9), RuntimeError, "output size .* too small"),
    (lambda x: F.max_pool2d(x, 0), ValueError, "kernel_size must be >= 1"),
    (lambda x: F.max_pool2d(x, 2, stride=0), ValueError, "stride must be >= 1"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=0), RuntimeError, "divisor_override must be non-zero"),
    (lambda x: F.max_pool2d(x.reshape(-1), 2), RuntimeError, "expected 3D .* or 4D"),
    (lambda x: F.adaptive_avg_pool2d(x, (1, 2, 3)), ValueError, "output_size must be an int or a pair"),
    (lambda x: F.max_pool2d(x.to(tf.int64), 2), RuntimeError, "float32 or float64"),
])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call(tf.randn(2, 3, 6, 6))


def test_max_pool_backward_binding_rejects_bad_indices():
    from tensorforge import _C

    dy = np.ones((1, 1, 2, 2))
    with pytest.raises(ValueError, match="outside the 4x4 input plane"):
        _C.max_pool2d_backward(dy, np.full((1, 1, 2, 2), 16, np.int64), np.empty((1, 1, 4, 4)))


def test_stride_forms(rng):
    t = tf.tensor(random_array(rng, (1, 2, 6, 7)))
    ref = F.max_pool2d(t, 2).numpy()
    for stride in (None, (), [], 2, (2, 2), np.int64(2)):
        np.testing.assert_array_equal(F.max_pool2d(t, 2, stride=stride).numpy(), ref)
    assert F.avg_pool2d(t, (2, 3), stride=(1, np.int64(2))).shape == (1, 2, 5, 3)
