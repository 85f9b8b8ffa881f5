"""matmul through our GEMM (shapes, odd sizes, views, dtypes) and broadcasting edge cases and errors."""
import numpy as np
import pytest

import tensorforge as tf
from helpers import assert_close, assert_product_close, random_array


MATMUL_SHAPES = [
    ((1, 1), (1, 1)), ((7, 33), (33, 1)), ((127, 65), (65, 33)), ((3, 0), (0, 4)), ((0, 5), (5, 2)),
    ((5,), (5,)), ((2, 5, 3), (3,)), ((4,), (3, 4, 2)), ((2, 1, 4, 3), (5, 3, 6)), ((3, 4, 5), (3, 5, 2)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_matches_numpy(sa, sb, dtype, rng):
    a, b = rng.standard_normal(sa).astype(dtype), rng.standard_normal(sb).astype(dtype)
    out = tf.tensor(a) @ tf.tensor(b)
    assert out.dtype == (tf.float32 if dtype == np.float32 else tf.float64)
    assert_product_close(out.numpy(), a, b, 1e-5 if dtype == np.float32 else 1e-13)


def test_matmul_uses_our_gemm(monkeypatch, rng):
    from tensorforge import _C
    from tensorforge.ops import _kernels as mm  # the device dispatch calls _C.gemm on the CPU

    calls = []
    real = _C.gemm

    def spy(a, b, out, **kw):
        calls.append((a.shape, b.shape, a.flags.c_contiguous, b.flags.c_contiguous))
        return real(a, b, out, **kw)

    monkeypatch.setattr(mm._C, "gemm", spy)
    a, b = tf.randn(6, 4), tf.randn(5, 4)
    out = a @ b.t()
    assert calls and calls[0][3] is False  # the transposed view went in without a copy
    assert_close(out.numpy(), a.numpy() @ b.numpy().T, 1e-5)
    calls.clear()
    tf.randn(3, 2, 4) @ tf.randn(1, 4, 5)  # batch broadcast: one batched call
    assert len(calls) == 1 and calls[0][0] == (3, 2, 4)


def test_matmul_non_blas_views_and_int_fallback(rng):
    a = rng.standard_normal((6, 8))
    x = tf.tensor(a)[::2, ::2]  # neither inner stride is 1
    y = tf.tensor(a.T.copy())[::2, 1::2]
    assert_close((x @ y).numpy(), a[::2, ::2] @ a.T[::2, 1::2], 1e-12)
    i = tf.tensor([[1, 2], [3, 4]])
    assert (i @ i).dtype == tf.int64 and (i @ i).tolist() == [[7, 10], [15, 22]]
    assert (tf.ones(2, 3, dtype=tf.float32) @ tf.ones(3, dtype=tf.float64)).dtype == tf.float64


def test_matmul_gradients_with_batch_broadcast(rng):
    a = tf.tensor(rng.standard_normal((2, 1, 3, 4)), requires_grad=True)
    b = tf.tensor(rng.standard_normal((5, 4, 2)), requires_grad=True)
    assert tf.autograd.gradcheck(lambda x, y: x @ y, [a, b])
    w = tf.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    assert tf.autograd.gradcheck(lambda x, y: x @ y, [tf.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True), w])


@pytest.mark.parametrize("sa,sb", [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3, 4), (5, 4, 2))])
def test_matmul_shape_mismatch_is_a_clear_error(sa, sb):
    with pytest.raises(RuntimeError, match="cannot be multiplied|inconsistent tensor size|cannot be broadcast"):
        tf.zeros(sa) @ tf.zeros(sb)


def test_matmul_of_0d_is_an_error():
    with pytest.raises(RuntimeError, match="at least 1D"):
        tf.tensor(2.0) @ tf.ones(2)


BROADCAST_CASES = [
    ((3, 1), (1, 4)), ((5, 4), (1,)), ((), (2, 3)), ((2, 3), ()), ((), ()), ((1, 1, 1), (7,)),
    ((0, 3), (1, 3)), ((2, 0), (2, 1)), ((4, 1, 5), (3, 1)),
]


@pytest.mark.parametrize("sa,sb", BROADCAST_CASES, ids=[f"{a}+{b}" for a, b in BROADCAST_CASES])
def test_broadcasting_forward_and_gradient_shapes(sa, sb, rng):
    a, b = random_array(rng, sa), random_array(rng, sb, low=0.5)
    x, y = tf.tensor(a, requires_grad=True), tf.tensor(b, requires_grad=True)
    out = x * y + x / y - y
    assert_close(out.detach().numpy(), a * b + a / b - b, 1e-12)
    out.sum().backward()
    assert x.grad.shape == sa and y.grad.shape == sb
    expected_x = np.broadcast_to(b + 1 / b, np.broadcast_shapes(sa, sb))
    lead = len(expected_x.shape) - len(sa)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(sa) if s == 1 and expected_x.shape[i + lead] != 1)
    assert_close(x.grad.numpy(), expected_x.sum(axes, keepdims=True).reshape(sa), 1e-12)


def test_python_scalars_and_0d_tensors(rng):
    a = rng.standard_normal(4)
    x = tf.tensor(a, requires_grad=True)
    s = tf.tensor(3.0, dtype=tf.float64, requires_grad=True)
    out = 2 * x + s * x - 1.5 + x ** 2 / 4
    assert_close(out.detach().numpy(), 2 * a + 3 * a - 1.5 + a ** 2 / 4, 1e-12)
    out.sum().backward()
    assert s.grad.shape == () and abs(s.grad.item() - a.sum()) < 1e-12


def test_empty_tensors_flow_through_ops_and_backward():
    x = tf.zeros(0, 4, requires_grad=True)
    y = (x.exp() * 2).sum(0)
    assert y.shape == (4,) and np.all(y.detach().numpy() == 0)
    y.sum().backward()
    assert x.grad.shape == (0, 4)
    assert tf.zeros(0).sum().item() == 0.0 and np.isnan(tf.zeros(0).mean().item())


@pytest.mark.parametrize("op", [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a < b,
                                lambda a, b: tf.where(a > 0, a, b)])
def test_broadcast_mismatch_is_a_clear_error(op):
    with pytest.raises(RuntimeError, match="must match the size|cannot be broadcast"):
        op(tf.ones(2, 3), tf.ones(4))


def test_inplace_broadcast_to_smaller_output_is_an_error():
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        tf.ones(3).add_(tf.ones(2, 3))
