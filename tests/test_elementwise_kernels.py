"""The elementwise training-step kernels (_C.relu, _C.relu_backward, _C.dropout, _C.dropout_backward,
_C.sum_rows) against float64 numpy references on odd and round sizes, every SIMD path, 1 and 2 threads, outputs
poisoned; F.relu and F.dropout through autograd against torch and by gradcheck; bad arguments."""
import numpy as np
import pytest

import tensorforge as tf
import tensorforge.nn.functional as F
from tensorforge import _C

from helpers import random_array, torch_module
from isa_threads import isa, threads  # noqa: F401 - fixtures

SIZES = [1, 7, 33, 1000, 1023, 65536, 100003]  # the last two span several pool chunks
DTYPES = [np.float32, np.float64]


def poisoned(shape, dtype):
    return np.full(shape, np.nan, dtype)


def relu_input(rng, n, dtype):
    """Uniform values with exact zeros, negative zeros and a NaN mixed in (when n allows)."""
    x = random_array(rng, n).astype(dtype)
    x[rng.integers(0, n, max(1, n // 10))] = 0.0
    if n > 3:
        x[1], x[2] = -0.0, np.nan
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_relu_forward_and_backward_match_the_reference(rng, isa, threads, dtype, n):
    x = relu_input(rng, n, dtype)
    g = random_array(rng, n).astype(dtype)
    y = poisoned(n, dtype)
    _C.relu(x, y)
    ref = np.where(np.isnan(x), np.nan, np.maximum(x.astype(np.float64), 0.0))
    np.testing.assert_array_equal(y, ref.astype(dtype))  # exact: a select, no arithmetic
    dx = poisoned(n, dtype)
    _C.relu_backward(y, g, dx)
    np.testing.assert_array_equal(dx, np.where(y.astype(np.float64) > 0, g, 0.0).astype(dtype))


def keep_reference(p, seed, n):
    return np.array([_C.dropout_keep(p, seed, i) for i in range(n)], dtype=np.uint8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 7, 33, 1000, 1023, 65536, 100003])
def test_dropout_mask_is_the_hash_and_scales_exactly(rng, isa, threads, dtype, n):
    p, seed = float(rng.uniform(0.1, 0.9)), int(rng.integers(2**63))
    x = random_array(rng, n).astype(dtype)
    y, keep = poisoned(n, dtype), np.full(n, 7, np.uint8)
    _C.dropout(x, y, keep, p, seed)
    check = np.arange(n) if n <= 2000 else rng.choice(n, 2000, replace=False)
    want = np.array([_C.dropout_keep(p, seed, int(i)) for i in check], dtype=np.uint8)
    np.testing.assert_array_equal(keep[check], want)
    assert set(np.unique(keep)) <= {0, 1}
    scale = dtype(1.0 / (1.0 - p))
    np.testing.assert_array_equal(y, x * (keep.astype(dtype) * scale))
    g = random_array(rng, n).astype(dtype)
    dx = poisoned(n, dtype)
    _C.dropout_backward(g, keep, dx, float(scale))
    np.testing.assert_array_equal(dx, g * (keep.astype(dtype) * scale))


def test_dropout_mask_rate_seeds_and_thread_independence(rng):
    n, p, seed = 400_003, 0.3, int(rng.integers(2**63))
    x = np.ones(n, np.float32)
    masks = []
    for threads in (1, 2):
        old = tf.get_num_threads()
        tf.set_num_threads(threads)
        try:
            y, keep = np.empty_like(x), np.empty(n, np.uint8)
            _C.dropout(x, y, keep, p, seed)
        finally:
            tf.set_num_threads(old)
        masks.append(keep)
    np.testing.assert_array_equal(masks[0], masks[1])
    rate = masks[0].mean()
    assert abs(rate - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    # neighbouring elements and neighbouring seeds are not correlated
    k = masks[0].astype(np.float64)
    assert abs(np.corrcoef(k[:-1], k[1:])[0, 1]) < 0.01
    other = np.empty(n, np.uint8)
    _C.dropout(x, np.empty_like(x), other, p, seed + 1)
    assert abs(np.corrcoef(k, other.astype(np.float64))[0, 1]) < 0.01


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (7, 33), (33, 1000), (1023, 7), (2048, 65), (4099, 128), (70001, 3)])
def test_sum_rows_matches_the_float64_reference(rng, isa, threads, dtype, shape):
    x = random_array(rng, shape).astype(dtype)
    out = poisoned(shape[1], dtype)
    _C.sum_rows(x, out)
    ref = x.astype(np.float64).sum(0)
    scale = np.abs(x.astype(np.float64)).sum(0)  # cancellation: judge each column on its magnitude
    tol = 1e-6 if dtype == np.float32 else 1e-14
    assert np.all(np.abs(out - ref) <= tol * scale), np.max(np.abs(out - ref) / scale)


def test_linear_bias_gradient_through_the_column_sum(rng):
    torch = torch_module()
    x = random_array(rng, (5, 37, 24)).astype(np.float32)
    w = random_array(rng, (19, 24)).astype(np.float32)
    b = random_array(rng, 19).astype(np.float32)
    g = random_array(rng, (5, 37, 19)).astype(np.float32)
    ours = [tf.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    F.linear(*ours).backward(tf.tensor(g))
    torch.nn.functional.linear(*theirs).backward(torch.tensor(g))
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours[2].grad.numpy(), g.astype(np.float64).sum((0, 1)), rtol=1e-6, atol=1e-5)
    b64 = tf.tensor(random_array(rng, 19), requires_grad=True)
    x64, w64 = tf.tensor(x.astype(np.float64)), tf.tensor(w.astype(np.float64))
    assert tf.autograd.gradcheck(lambda t: F.linear(x64, w64, t), [b64])


def test_relu_op_matches_torch_with_gradients(rng):
    torch = torch_module()
    for shape in [(3, 5, 7), (64, 33), (2, 70001)]:
        x = random_array(rng, shape, away_from=[0.0]).astype(np.float32)
        g = random_array(rng, shape).astype(np.float32)
        a = tf.tensor(x, requires_grad=True)
        ta = torch.tensor(x, requires_grad=True)
        y, ty = F.relu(a), torch.relu(ta)
        y.backward(tf.tensor(g))
        ty.backward(torch.tensor(g))
        np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
        np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())


def test_relu_of_a_transposed_view_and_a_transposed_gradient(rng):
    x = random_array(rng, (40, 30)).T
    a = tf.tensor(x, requires_grad=True)
    b = a.T  # a view: relu reads it in place of a copy's layout
    y = F.relu(b)
    np.testing.assert_array_equal(y.detach().numpy(), np.maximum(x.T, 0))
    g = random_array(rng, (30, 40))
    y.backward(tf.tensor(g).T)  # a non-contiguous gradient
    np.testing.assert_array_equal(a.grad.numpy(), np.where(x > 0, g, 0.0))


def test_relu_and_dropout_gradcheck_and_double_backward(rng):
    x = tf.tensor(random_array(rng, (4, 9), away_from=[0.0]), requires_grad=True)
    def fixed_dropout(t):
        tf.manual_seed(11)
        return F.dropout(t, 0.4)

    def first_derivative(fn):  # backward recorded (create_graph): the composed, not the fused, path
        return lambda t: tf.autograd.grad((fn(t) * t).sum(), t, create_graph=True)[0]

    for fn in (F.relu, fixed_dropout):
        assert tf.autograd.gradcheck(fn, [x])
        assert tf.autograd.gradcheck(first_derivative(fn), [x])


def test_dropout_op_gradient_is_the_mask_and_reproducible(rng):
    x = tf.tensor(random_array(rng, (16, 333)).astype(np.float32), requires_grad=True)
    g = random_array(rng, (16, 333)).astype(np.float32)
    outs = []
    for _ in range(2):
        tf.manual_seed(5)
        y = F.dropout(x, 0.25)
        y.backward(tf.tensor(g))
        outs.append((y.detach().numpy().copy(), x.grad.numpy().copy()))
        x.grad = None
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    y, gx = outs[0]
    kept = y != 0
    np.testing.assert_array_equal(y, np.where(kept, x.detach().numpy() * np.float32(1 / 0.75), 0))
    np.testing.assert_array_equal(gx, np.where(kept, g * np.float32(1 / 0.75), 0))
    tf.manual_seed(6)
    assert not np.array_equal(F.dropout(x, 0.25).detach().numpy(), y)


def test_bad_arguments_raise_clear_errors():
    x = np.ones(10, np.float32)
    with pytest.raises(TypeError, match=r"relu: out must be float32 or float64|float"):
        _C.relu(np.ones(10, np.int32), np.empty(10, np.int32))
    with pytest.raises(ValueError, match=r"relu: x has 10 elements"):
        _C.relu(x, np.empty(11, np.float32))
    with pytest.raises((TypeError, ValueError), match=r"relu_backward: grad"):
        _C.relu_backward(x, np.ones(10, np.float64), np.empty(10, np.float32))
    with pytest.raises(ValueError, match=r"C-contiguous"):
        _C.relu(np.ones((10, 10), np.float32).T, np.empty((10, 10), np.float32))
    with pytest.raises(ValueError, match=r"overlap"):
        _C.relu(x, x)
    with pytest.raises(ValueError, match=r"dropout: p must be in \(0, 1\)"):
        _C.dropout(x, np.empty_like(x), np.empty(10, np.uint8), 1.0, 3)
    with pytest.raises(TypeError, match=r"dropout: keep must be uint8"):
        _C.dropout(x, np.empty_like(x), np.empty(10, np.int64), 0.5, 3)
    with pytest.raises(ValueError, match=r"dropout_backward: keep has 9 elements"):
        _C.dropout_backward(x, np.empty(9, np.uint8), np.empty_like(x), 2.0)
    with pytest.raises(ValueError, match=r"sum_rows: x has 4 columns"):
        _C.sum_rows(np.ones((3, 4), np.float32), np.empty(5, np.float32))
    with pytest.raises(ValueError, match=r"sum_rows: x"):
        _C.sum_rows(np.ones((3, 4, 2), np.float32), np.empty(2, np.float32))
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(tf.tensor(x), 1.5)
