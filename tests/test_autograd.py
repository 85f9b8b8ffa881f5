"""Autograd engine: accumulation, retain_graph, create_graph, hooks, grad modes, deep graphs,
version counter, autograd.grad, custom Functions, gradcheck itself."""
import gc
import weakref

import numpy as np
import pytest

import tensorforge as tf
from helpers import assert_close, to_torch, torch_module



def _param(rng, *shape, dtype=np.float64):
    return tf.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)


def test_leaf_and_non_leaf(rng):
    x = _param(rng, 3)
    y = x * 2
    assert x.is_leaf and x.grad_fn is None
    assert not y.is_leaf and y.requires_grad and y.grad_fn is not None
    assert "MulBackward0" in repr(y)
    z = tf.ones(3)
    assert z.is_leaf and not z.requires_grad and not (z * 2).requires_grad


def test_grad_accumulates_across_backward_calls(rng):
    x = _param(rng, 4)
    w = rng.standard_normal(4)
    (x * tf.tensor(w)).sum().backward()
    (x * tf.tensor(w)).sum().backward()
    assert_close(x.grad.numpy(), 2 * w, 1e-12)


def test_shared_grad_is_not_aliased_between_leaves(rng):
    a, b = _param(rng, 3), _param(rng, 3)
    (a + b).sum().backward()
    a.grad.mul_(5)  # in-place on one grad must not change the other
    assert_close(b.grad.numpy(), np.ones(3), 0)
    assert_close(a.grad.numpy(), 5 * np.ones(3), 0)


def test_backward_twice_without_retain_graph_is_an_error(rng):
    x = _param(rng, 3)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_second_backward(rng):
    x = _param(rng, 3)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    assert_close(x.grad.numpy(), 2 * first, 1e-12)


def test_graph_is_freed_after_backward(rng):
    x = _param(rng, 50)
    y = x.sigmoid()
    saved_ref = weakref.ref(y.grad_fn.saved[0])
    loss = (y * y).sum()
    del y
    loss.backward()
    gc.collect()
    assert saved_ref() is None


def test_backward_on_non_scalar_needs_gradient(rng):
    x = _param(rng, 2, 3)
    y = x * 3
    with pytest.raises(RuntimeError, match="implicitly created only for scalar outputs"):
        y.backward()
    g = rng.standard_normal((2, 3))
    y.backward(tf.tensor(g))
    assert_close(x.grad.numpy(), 3 * g, 1e-12)


def test_backward_on_tensor_without_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tf.ones(2).sum().backward()


def test_chain_of_100k_ops_backprops_without_recursion():
    x = tf.tensor([0.5], dtype=tf.float64, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.item() == 1.0


def test_second_derivatives_with_create_graph(rng):
    x = _param(rng, 5)
    y = (x.sin() * x ** 3).sum()
    (g,) = tf.autograd.grad(y, x, create_graph=True)
    assert g.requires_grad
    g.sum().backward()
    a = x.detach().numpy()
    d2 = -np.sin(a) * a ** 3 + 6 * np.cos(a) * a ** 2 + 6 * a * np.sin(a)
    assert_close(x.grad.numpy(), d2, 1e-12)


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid", "softmax", "log_softmax", "gelu", "matmul", "div",
                                  "logsumexp", "sqrt"])
def test_second_derivatives_match_torch(name, rng):
    torch = torch_module()
    fns = {
        "exp": lambda x, w: x.exp(), "tanh": lambda x, w: x.tanh(), "sigmoid": lambda x, w: x.sigmoid(),
        "softmax": lambda x, w: x.softmax(-1), "log_softmax": lambda x, w: x.log_softmax(0),
        "gelu": lambda x, w: x * 0.5 * (1 + (x * 0.7071067811865476).erf()),
        "matmul": lambda x, w: (x @ w).tanh(), "div": lambda x, w: w.t()[:3] / (x * x + 1),
        "logsumexp": lambda x, w: x.logsumexp(1), "sqrt": lambda x, w: (x * x + 1).sqrt(),
    }
    fn = fns[name]
    xs = rng.standard_normal((3, 2))
    ws = rng.standard_normal((2, 4))
    ours = [tf.tensor(xs, requires_grad=True), tf.tensor(ws, requires_grad=True)]
    theirs = to_torch(torch, [xs, ws])
    for lib, (x, w) in ((tf, ours), (torch, theirs)):
        out = fn(x, w)
        weight = lib.tensor(np.cos(np.arange(out.numel()) + 0.3).reshape(tuple(out.shape)))
        (g,) = lib.autograd.grad((out * weight).sum(), x, create_graph=True)
        (g * g).sum().backward()
    tol = 1e-6 if name == "gelu" else 1e-9  # our erf is accurate to ~1e-7
    assert_close(ours[0].grad.numpy(), theirs[0].grad.numpy(), tol)
    if theirs[1].grad is not None:
        assert_close(ours[1].grad.numpy(), theirs[1].grad.numpy(), tol)


def test_gradcheck_of_a_gradient_checks_second_order(rng):
    x = _param(rng, 4)

    def first_derivative(t):
        return tf.autograd.grad((t.tanh() * t).sum(), t, create_graph=True)[0]

    assert tf.autograd.gradcheck(first_derivative, [x])


def test_autograd_grad_does_not_touch_dot_grad(rng):
    x, w = _param(rng, 3), _param(rng, 3)
    gx, gw = tf.autograd.grad((x * w).sum(), [x, w])
    assert x.grad is None and w.grad is None
    assert_close(gx.numpy(), w.detach().numpy(), 0)
    assert_close(gw.numpy(), x.detach().numpy(), 0)


def test_autograd_grad_of_non_leaf_and_unused_input(rng):
    x = _param(rng, 3)
    h = x * 2
    y = (h * h).sum()
    unused = _param(rng, 2)
    gh, gu = tf.autograd.grad(y, [h, unused], allow_unused=True)
    assert_close(gh.numpy(), 2 * h.detach().numpy(), 1e-12)
    assert gu is None
    with pytest.raises(RuntimeError, match="not have been used"):
        tf.autograd.grad((x * 2).sum(), [x, unused])


def test_no_grad_context_and_decorator(rng):
    x = _param(rng, 3)
    with tf.no_grad():
        y = x * 2
        with tf.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad

    @tf.no_grad()
    def f(t):
        return t * 3

    @tf.no_grad
    def g(t):
        return t * 3

    assert not f(x).requires_grad and not g(x).requires_grad
    assert tf.is_grad_enabled()
    with tf.set_grad_enabled(False):
        assert not (x * 1).requires_grad
    assert tf.is_grad_enabled()


def test_detach_shares_data_and_cuts_graph(rng):
    x = _param(rng, 3)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    y = x.detach()
    y[0] = 100.0
    assert x.detach().numpy()[0] == 100.0


def test_requires_grad_rules(rng):
    x = tf.tensor(rng.standard_normal(3))
    assert x.requires_grad_() is x and x.requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        tf.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf variables"):
        (x * 2).requires_grad_(False)


def test_register_hook_on_leaf_and_non_leaf(rng):
    x = _param(rng, 3)
    h = x * 2
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = x.register_hook(lambda g: g * 10)
    (h * 3).sum().backward()
    assert_close(seen[0], 3 * np.ones(3), 0)
    assert_close(x.grad.numpy(), 60 * np.ones(3), 0)
    handle.remove()
    x.grad = None
    (x * 1).sum().backward()
    assert_close(x.grad.numpy(), np.ones(3), 0)


def test_retain_grad_on_non_leaf(rng):
    x = _param(rng, 3)
    h = x.exp()
    h.retain_grad()
    (h * 4).sum().backward()
    assert_close(h.grad.numpy(), 4 * np.ones(3), 0)
    assert (x * 2).grad is None


def test_inplace_on_saved_tensor_is_detected(rng):
    x = _param(rng, 3)
    h = x * 1
    y = h.exp()  # saves its output
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    z = h * h  # saves h
    h.mul_(2)
    with pytest.raises(RuntimeError, match="is at version"):
        z.sum().backward()


def test_inplace_on_leaf_requiring_grad_is_an_error(rng):
    x = _param(rng, 3)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.add_(1)
    with tf.no_grad():
        x.add_(1)  # how optimizers update parameters
    assert x._version == 1


def test_inplace_ops_are_differentiable(rng):
    torch = torch_module()
    a, b = rng.standard_normal(4), rng.standard_normal(4)
    results = []
    for lib in (tf, torch):
        x, w = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=True)
        h = x * 1
        h.mul_(w)
        h.add_(w, alpha=2)
        h += 1
        h[1:3] = w[:2] * 3
        h.sum().backward()
        results.append((h.detach().numpy().copy(), x.grad.numpy().copy(), w.grad.numpy().copy()))
    for ours, theirs in zip(*results):
        assert_close(ours, theirs, 1e-12)


def test_custom_function(rng):
    class Cube(tf.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale):
            ctx.save_for_backward(x)
            ctx.scale = scale
            return x * x * x * scale

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 3 * x * x * ctx.scale, None

    x = _param(rng, 4)
    y = Cube.apply(x, 2.0)
    assert "CubeBackward" in repr(y)
    assert tf.autograd.gradcheck(lambda t: Cube.apply(t, 2.0), [x])


def test_gradcheck_catches_a_wrong_gradient(rng):
    class WrongSquare(tf.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 2.01 * x

    x = _param(rng, 3)
    with pytest.raises(tf.autograd.GradcheckError, match="Jacobian mismatch"):
        tf.autograd.gradcheck(WrongSquare.apply, [x])
    assert not tf.autograd.gradcheck(WrongSquare.apply, [x], raise_exception=False)


def test_grad_dtype_matches_leaf_dtype_with_mixed_precision(rng):
    x = _param(rng, 3, dtype=np.float32)
    w = tf.tensor(rng.standard_normal(3))  # float64
    y = (x * w).sum()
    assert y.dtype == tf.float64
    y.backward()
    assert x.grad.dtype == tf.float32
    assert_close(x.grad.numpy(), w.numpy(), 1e-6)


def test_backward_through_broadcasting_sums_to_input_shape(rng):
    b = _param(rng, 1, 4)
    s = tf.tensor(2.5, dtype=tf.float64, requires_grad=True)
    x = tf.tensor(rng.standard_normal((3, 2, 4)))
    (x * b + s).sum().backward()
    assert b.grad.shape == (1, 4) and s.grad.shape == ()
    assert_close(b.grad.numpy(), x.numpy().sum((0, 1))[None], 1e-12)
    assert s.grad.item() == 24.0


def test_a_none_gradient_still_releases_the_inputs_node():
    """A backward that returns None for an input (a zero gradient) must not stall that input's node
    when another path reaches it: x gets the gradient of the other path, like PyTorch."""

    class Blocked(tf.autograd.Function):
        @staticmethod
        def forward(ctx, y):
            return y * 3

        @staticmethod
        def backward(ctx, g):
            return None

    x = tf.ones(3, requires_grad=True)
    y = x * 2
    (Blocked.apply(y) + y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
    x.grad = None
    Blocked.apply(x * 2).sum().backward()  # nothing reaches x at all
    assert x.grad is None
    (gx,) = tf.autograd.grad((Blocked.apply(x * 2) + x * 5).sum(), [x])
    np.testing.assert_array_equal(gx.numpy(), [5.0, 5.0, 5.0])
