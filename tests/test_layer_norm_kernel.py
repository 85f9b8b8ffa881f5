"""The LayerNorm kernels (_C.layer_norm, _C.layer_norm_backward) against a float64 numpy
reference on odd and round row widths (1 ... 1023) and row counts, with and without the affine
parameters, every SIMD path, 1 and 2 threads, outputs poisoned; F.layer_norm against torch and by
gradcheck; bad arguments."""
import numpy as np
import pytest

import tensorforge as tf
from tensorforge import _C

from isa_threads import isa, threads  # noqa: F401 - fixtures

SHAPES = [(1, 1), (3, 1), (5, 2), (7, 17), (64, 128), (33, 129), (4, 1023), (300, 64), (513, 127)]  # the last: 2 threads


def reference(x, w, b, dy, eps):
    """float64 forward (y, mean, rstd) and backward (dx, dw, db) over the last axis."""
    x, dy = x.astype(np.float64), dy.astype(np.float64)
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    rstd = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * rstd
    w64 = np.ones(x.shape[-1]) if w is None else w.astype(np.float64)
    y = xhat * w64 + (0 if b is None else b.astype(np.float64))
    g = dy * w64
    dx = rstd * (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True))
    return y, mean[:, 0], rstd[:, 0], dx, (dy * xhat).sum(0), dy.sum(0)


def poisoned(shape, dtype):
    return np.full(shape, np.nan, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
@pytest.mark.parametrize("rows,n", SHAPES)
def test_kernels_match_float64_reference(rows, n, affine, dtype, isa, threads, rng):
    x = (rng.standard_normal((rows, n)) * 3 + rng.uniform(-2, 2, (rows, 1))).astype(dtype)
    dy = rng.standard_normal((rows, n)).astype(dtype)
    w = rng.uniform(0.5, 1.5, n).astype(dtype) if affine != "none" else None
    b = rng.standard_normal(n).astype(dtype) if affine == "both" else None
    eps = 1e-5
    y_ref, mean_ref, rstd_ref, dx_ref, dw_ref, db_ref = reference(x, w, b, dy, eps)
    y, mean, rstd = poisoned((rows, n), dtype), poisoned(rows, dtype), poisoned(rows, dtype)
    _C.layer_norm(x, n, w, b, eps, y, mean, rstd)
    dx, dw, db = poisoned((rows, n), dtype), poisoned(n, dtype), poisoned(n, dtype)
    _C.layer_norm_backward(dy, x, mean, rstd, w, dx, dw, db)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    # errors relative to each quantity's scale (dx and the sums cancel; n = 1 gives dx = 0 exactly);
    # x - mean loses the digits that the row's offset shares, so y and dx carry the row's
    # conditioning max|x| / std (large when the row is nearly constant, as with n = 2 by chance)
    cond = (1 + np.abs(x).max(-1) * rstd_ref)[:, None]
    for name, got, ref, scale in [("y", y, y_ref, (1 + np.abs(y_ref)) * cond),
                                  ("mean", mean, mean_ref, 3 + np.abs(mean_ref)), ("rstd", rstd, rstd_ref, rstd_ref),
                                  ("dx", dx, dx_ref, rstd_ref[:, None] * (np.abs(dy) + np.abs(dy).mean(-1, keepdims=True))
                                   * cond),
                                  ("dw", dw, dw_ref, np.abs(dy).sum(0) * 4), ("db", db, db_ref, np.abs(dy).sum(0))]:
        err = np.abs(got - ref) / scale
        assert np.all(np.isfinite(got)) and err.max() <= tol * max(1, np.log2(max(rows, n))), \
            f"{name}: max scaled err {err.max():.2e}"


def test_backward_outputs_are_optional(rng):
    x = rng.standard_normal((6, 10)).astype(np.float32)
    dy = rng.standard_normal((6, 10)).astype(np.float32)
    y, mean, rstd = np.empty_like(x), np.empty(6, np.float32), np.empty(6, np.float32)
    _C.layer_norm(x, 10, None, None, 1e-5, y, mean, rstd)
    full = [np.empty_like(x), np.empty(10, np.float32), np.empty(10, np.float32)]
    _C.layer_norm_backward(dy, x, mean, rstd, None, *full)
    dx = np.full_like(x, np.nan)
    _C.layer_norm_backward(dy, x, mean, rstd, None, dx, None, None)
    np.testing.assert_array_equal(dx, full[0])
    db = np.full(10, np.nan, np.float32)
    _C.layer_norm_backward(dy, x, mean, rstd, None, None, None, db)
    np.testing.assert_array_equal(db, full[2])


@pytest.mark.parametrize("shape,normalized", [((4, 7, 33), (33,)), ((2, 3, 5, 6), (5, 6)), ((16, 128, 128), (128,))])
def test_layer_norm_matches_torch(shape, normalized, isa, threads, rng):
    torch = pytest.importorskip("torch")
    x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    w = rng.uniform(0.5, 1.5, normalized).astype(np.float32)
    b = rng.standard_normal(normalized).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    ours = [tf.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = tf.nn.functional.layer_norm(ours[0], normalized, ours[1], ours[2])
    yt = torch.nn.functional.layer_norm(theirs[0], normalized, theirs[1], theirs[2])
    y.backward(tf.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    for a, at in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_gradcheck(affine, rng):
    x = tf.tensor(rng.standard_normal((3, 4, 5)), requires_grad=True)
    params = [tf.tensor(rng.uniform(0.5, 1.5, (4, 5)), requires_grad=True),
              tf.tensor(rng.standard_normal((4, 5)), requires_grad=True)] if affine else []
    fn = (lambda t, w, b: tf.nn.functional.layer_norm(t, (4, 5), w, b)) if affine else \
        (lambda t: tf.nn.functional.layer_norm(t, (4, 5)))
    assert tf.autograd.gradcheck(fn, [x] + params)


def test_layer_norm_bad_input():
    x = tf.ones(2, 3, 4)
    with pytest.raises(ValueError, match=r"input of shape \(2, 3, 4\) does not end with normalized_shape \(3,\)"):
        tf.nn.functional.layer_norm(x, (3,))
    with pytest.raises(ValueError, match=r"weight has shape \(3,\), expected \(4,\)"):
        tf.nn.functional.layer_norm(x, 4, tf.ones(3))
    with pytest.raises(ValueError, match="input of shape"):
        tf.nn.LayerNorm(5)(x)
    a = np.ones((2, 4), np.float32)
    m = np.empty(2, np.float32)
    with pytest.raises(ValueError, match="not a whole number of rows of 3"):
        _C.layer_norm(a, 3, None, None, 1e-5, np.empty_like(a), m, m.copy())
    with pytest.raises(ValueError, match="layer_norm: weight has 3 elements"):
        _C.layer_norm(a, 4, np.ones(3, np.float32), None, 1e-5, np.empty_like(a), m, m.copy())
    with pytest.raises(TypeError, match="bias must be float32 or float64|bias"):
        _C.layer_norm(a, 4, None, np.ones(4, np.float64), 1e-5, np.empty_like(a), m, m.copy())
    with pytest.raises(ValueError, match="overlap"):
        _C.layer_norm(a, 4, None, None, 1e-5, a, m, m.copy())
