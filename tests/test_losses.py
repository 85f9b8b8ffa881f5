"""Every loss against torch (value and input gradient, every reduction and option, float64 and
float32), float64 gradchecks, and the errors for bad targets."""
import numpy as np
import pytest

import tensorforge as tf
from tensorforge import nn
from tensorforge.nn import functional as F

from helpers import assert_close, random_array

REDUCTIONS = ["mean", "sum", "none"]


def _torch():
    return pytest.importorskip("torch")


def _run_both(torch, name, x, target, kwargs, dtype, tol, torch_kwargs=None):
    """Calls F.<name> in both libraries; compares the loss and d(loss . seed)/d(input). torch runs in
    float64 on the same (rounded) inputs: its float32 results stray from that further than ours do
    (cross-entropy gradients with weights and smoothing: 4e-6 against our 3e-7), so it is the reference."""
    xt = torch.tensor(x.astype(dtype).astype(np.float64), requires_grad=True)
    xo = tf.tensor(x.astype(dtype), requires_grad=True)
    tt = torch.tensor(target.astype(np.float64) if target.dtype.kind == "f" else target)
    to = tf.tensor(target)
    conv = {k: (torch.tensor(v.astype(np.float64) if v.dtype.kind == "f" else v) if isinstance(v, np.ndarray) else v)
            for k, v in (torch_kwargs or kwargs).items()}
    ours_kw = {k: (tf.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
    lt = getattr(torch.nn.functional, name)(xt, tt, **conv)
    lo = getattr(F, name)(xo, to, **ours_kw)
    assert lo.shape == tuple(lt.shape)
    assert_close(lo.detach().numpy(), lt.detach().numpy(), tol)
    seed = np.random.default_rng(1).uniform(0.5, 1.5, tuple(lt.shape)).astype(dtype)
    (lt * torch.tensor(seed.astype(np.float64))).sum().backward()
    (lo * tf.tensor(seed)).sum().backward()
    assert_close(xo.grad.numpy(), xt.grad.numpy(), tol)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-6)], ids=["f64", "f32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 2, 3), (6,)], ids=["2d", "4d", "unbatched"])
def test_cross_entropy_indices(shape, smoothing, weighted, reduction, dtype, tol, rng):
    torch = _torch()
    c = shape[1] if len(shape) > 1 else shape[0]
    x = random_array(rng, shape, -4, 4)
    tshape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    target = rng.integers(0, c, tshape)
    kwargs = {"reduction": reduction, "label_smoothing": smoothing, "ignore_index": 1}
    if weighted:
        kwargs["weight"] = rng.uniform(0.2, 2.0, c).astype(dtype)
    if target.ndim:
        target.reshape(-1)[0] = 1  # one ignored entry
        target.reshape(-1)[-1] = 0  # and at least one that counts
    else:
        target = np.array(0 if target == 1 else target)
    _run_both(torch, "cross_entropy", x, target, kwargs, dtype, tol)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_probabilities(smoothing, weighted, reduction, rng):
    torch = _torch()
    x = random_array(rng, (5, 4, 3), -3, 3)
    p = rng.uniform(0, 1, (5, 4, 3))
    p /= p.sum(axis=1, keepdims=True)
    kwargs = {"reduction": reduction, "label_smoothing": smoothing}
    if weighted:
        kwargs["weight"] = rng.uniform(0.2, 2.0, 4)
    _run_both(torch, "cross_entropy", x, p, kwargs, np.float64, 1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(weighted, reduction, rng):
    torch = _torch()
    x = random_array(rng, (9, 6))
    target = rng.integers(0, 6, 9)
    target[2] = -100
    kwargs = {"reduction": reduction}
    if weighted:
        kwargs["weight"] = rng.uniform(0.2, 2.0, 6)
    _run_both(torch, "nll_loss", x, target, kwargs, np.float64, 1e-12)


ELEMENTWISE = {
    "mse_loss": ({}, None),
    "l1_loss": ({}, None),
    "smooth_l1_loss": ({"beta": 0.7}, None),
    "huber_loss": ({"delta": 0.6}, None),
    "binary_cross_entropy_with_logits": ({}, "binary"),
    "binary_cross_entropy_with_logits-pos_weight": ({"pos_weight": "vector"}, "binary"),
    "binary_cross_entropy_with_logits-weight": ({"weight": "matrix"}, "binary"),
    "binary_cross_entropy": ({}, "probabilities"),
    "binary_cross_entropy-weight": ({"weight": "matrix"}, "probabilities"),
}


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 3e-6)], ids=["f64", "f32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", sorted(ELEMENTWISE))
def test_elementwise_losses(case, reduction, dtype, tol, rng):
    torch = _torch()
    name = case.split("-")[0]
    options, kind = ELEMENTWISE[case]
    shape = (6, 5)
    x = random_array(rng, shape, -3, 3)
    target = random_array(rng, shape, -3, 3)
    if kind == "binary":
        target = rng.uniform(0, 1, shape)
    elif kind == "probabilities":
        x = rng.uniform(0.02, 0.98, shape)
        target = rng.uniform(0, 1, shape)
    kwargs = {"reduction": reduction}
    for key, form in options.items():
        kwargs[key] = form if not isinstance(form, str) else rng.uniform(0.5, 2, shape[-1:] if form == "vector"
                                                                         else shape).astype(dtype)
    _run_both(torch, name, x, target.astype(dtype), kwargs, dtype, tol)


def test_cross_entropy_all_ignored_is_nan_like_torch():
    loss = F.cross_entropy(tf.zeros(2, 3), tf.tensor([-100, -100]))
    assert np.isnan(loss.item())
    assert F.cross_entropy(tf.zeros(2, 3), tf.tensor([-100, -100]), reduction="sum").item() == 0.0


def test_bce_with_logits_is_stable_for_large_logits():
    x = tf.tensor([-200.0, 200.0, 0.0], requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(x, tf.tensor([1.0, 0.0, 1.0]), reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [200.0, 200.0, np.log(2)], rtol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, 1.0, -0.5], rtol=1e-6)


GRADCHECKS = {
    "cross_entropy": lambda x: F.cross_entropy(x, tf.tensor([0, 2, 1, 2]), label_smoothing=0.1,
                                               weight=tf.tensor([1.0, 2.0, 0.5], dtype=tf.float64)),
    "cross_entropy_none": lambda x: F.cross_entropy(x, tf.tensor([0, 2, 1, 2]), reduction="none"),
    "nll_loss": lambda x: F.nll_loss(x, tf.tensor([0, 2, 1, 1])),
    "mse_loss": lambda x: F.mse_loss(x, tf.ones(4, 3, dtype=tf.float64)),
    "smooth_l1": lambda x: F.smooth_l1_loss(x, tf.zeros(4, 3, dtype=tf.float64), beta=0.5),
    "bce_logits": lambda x: F.binary_cross_entropy_with_logits(x, tf.full((4, 3), 0.3, dtype=tf.float64),
                                                               pos_weight=tf.tensor([1.0, 2.0, 3.0],
                                                                                    dtype=tf.float64)),
}


@pytest.mark.parametrize("name", sorted(GRADCHECKS))
def test_loss_gradcheck(name, rng):
    x = tf.tensor(random_array(rng, (4, 3), away_from=(0.0, 0.5, -0.5)), requires_grad=True)
    assert tf.autograd.gradcheck(GRADCHECKS[name], [x])


def test_modules_wrap_functions(rng):
    x = tf.tensor(rng.standard_normal((4, 3)))
    t = tf.tensor([0, 1, 2, 1])
    w = tf.tensor([1.0, 2.0, 3.0], dtype=tf.float64)
    np.testing.assert_allclose(nn.CrossEntropyLoss(weight=w, label_smoothing=0.1)(x, t).item(),
                               F.cross_entropy(x, t, weight=w, label_smoothing=0.1).item())
    assert nn.MSELoss(reduction="none")(x, x * 2).shape == (4, 3)
    assert "weight" in dict(nn.CrossEntropyLoss(weight=w).named_buffers())
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.L1Loss(reduction="avg")


def test_loss_errors():
    x = tf.zeros(4, 3)
    with pytest.raises(IndexError, match="target 3 is out of bounds for 3 classes"):
        F.cross_entropy(x, tf.tensor([0, 1, 3, 2]))
    with pytest.raises(IndexError, match="target -2 is out of bounds"):
        F.cross_entropy(x, tf.tensor([0, 1, -2, 2]))
    with pytest.raises(ValueError, match=r"expected target of shape \(4,\).*got \(3,\)"):
        F.cross_entropy(x, tf.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        F.cross_entropy(x, tf.tensor([0, 1, 2, 0]), weight=tf.ones(4))
    with pytest.raises(TypeError, match="class indices"):
        F.nll_loss(x, tf.zeros(4))
    with pytest.raises(ValueError, match=r"target size \(4, 2\) is different from input size \(4, 3\)"):
        F.mse_loss(x, tf.zeros(4, 2))
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\]"):
        F.binary_cross_entropy(x + 2, tf.zeros(4, 3))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, tf.tensor([0, 1, 2, 0]), label_smoothing=1.5)
