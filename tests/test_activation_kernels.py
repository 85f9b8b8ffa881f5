"""The elementwise activation kernels (_C.gelu, _C.gelu_backward, _C.gelu_tanh,
_C.gelu_tanh_backward, _C.erf) against float64 references built from math.erf / math.erfc, on odd
and round sizes, every SIMD path, 1 and 2 threads, outputs poisoned; F.gelu against torch."""
import math

import numpy as np
import pytest

import tensorforge as tf
from tensorforge import _C

from isa_threads import isa, threads  # noqa: F401 - fixtures

SIZES = [1, 7, 33, 1000, 1023, 16384, 70001]
ERF = np.vectorize(math.erf)
ERFC = np.vectorize(math.erfc)


def reference(x):
    """gelu, its derivative, erf, and the derivative's magnitude scale |Phi| + |x phi| (the
    derivative crosses zero near x = -0.75, where only an absolute error on that scale means anything)."""
    x = x.astype(np.float64)
    cdf = 0.5 * ERFC(-x / math.sqrt(2))
    x_pdf = x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return x * cdf, cdf + x_pdf, ERF(x), cdf + np.abs(x_pdf)


GELU_K, GELU_C = math.sqrt(2 / math.pi), 0.044715


def tanh_reference(x):
    """tanh-form gelu and its derivative in the sigmoid form (no 1 + tanh cancellation), the
    derivative's magnitude scale, and |2u|: the condition number of exp(-2u) in u, which float32
    evaluation of u = K (x + C x^3) rounds by half an ulp."""
    x = x.astype(np.float64)
    u = GELU_K * (x + GELU_C * x ** 3)
    s = 1 / (1 + np.exp(-2 * u))
    ds = 2 * x * s * (np.exp(-2 * u) * s) * GELU_K * (1 + 3 * GELU_C * x * x)
    return x * s, s + ds, s + np.abs(ds), np.abs(2 * u)


# float32: erfc(|x|/sqrt 2) evaluated in float32 with an exact x^2 (measured max 9 half-ulp over
# [-14, 8]); float64: the C library's erfc, which amplifies the rounding of its argument by 2 z^2
F32_EPS = 2.0 ** -24


@pytest.mark.parametrize("dtype,tol", [(np.float32, 16 * F32_EPS / 8), (np.float64, 4e-15)], ids=["f32", "f64"])
@pytest.mark.parametrize("n", SIZES)
def test_kernels_match_float64_reference(n, dtype, tol, isa, threads, rng):
    x = np.concatenate([rng.uniform(-6, 6, n - n // 4), rng.uniform(-13, -6, n // 4)]).astype(dtype)
    g = rng.uniform(-2, 2, n).astype(dtype)
    gelu, dgelu, erf, dscale = reference(x)
    cases = [(_C.gelu, (x,), gelu, np.abs(gelu)), (_C.erf, (x,), erf, np.abs(erf)),
             (_C.gelu_backward, (x, g), g * dgelu, np.abs(g) * dscale)]
    for kernel, args, ref, scale in cases:
        out = np.full(n, np.nan, dtype)
        kernel(*args, out)
        err = np.abs(out - ref) / np.maximum(scale, np.finfo(dtype).tiny)
        cond = 1.0 if dtype == np.float32 else np.maximum(1.0, x * x)  # float64: erfc's 2 z^2 = x^2
        assert np.all(np.isfinite(out)) and np.all(err <= tol * 8 * cond), f"{kernel.__name__}: max rel err {err.max():.2e}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("n", SIZES)
def test_tanh_kernels_match_float64_reference(n, dtype, isa, threads, rng):
    x = np.concatenate([rng.uniform(-6, 6, n - n // 4), rng.uniform(-10, -6, n // 4)]).astype(dtype)
    g = rng.uniform(-2, 2, n).astype(dtype)
    gelu, dgelu, dscale, cond = tanh_reference(x)
    eps = F32_EPS if dtype == np.float32 else 2.0 ** -53
    # float64 kernels use 0.5 x (1 + tanh u) (torch's form), which cancels where tanh u -> -1
    floor = 0 if dtype == np.float32 else np.abs(x)
    for kernel, args, ref, scale in [(_C.gelu_tanh, (x,), gelu, np.abs(gelu)),
                                     (_C.gelu_tanh_backward, (x, g), g * dgelu, np.abs(g) * dscale)]:
        out = np.full(n, np.nan, dtype)
        kernel(*args, out)
        bound = eps * (16 * np.maximum(scale, floor) + 4 * cond * scale) + np.finfo(dtype).tiny
        assert np.all(np.isfinite(out)), kernel.__name__
        worst = np.max(np.abs(out - ref) / bound)
        assert worst <= 1, f"{kernel.__name__}: error {worst:.2f}x the bound"


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(approximate, isa, threads, rng):
    torch = pytest.importorskip("torch")
    x = rng.uniform(-8, 8, (37, 129)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    ours = tf.tensor(x, requires_grad=True)
    y = tf.nn.functional.gelu(ours, approximate=approximate)
    y.backward(tf.tensor(g))
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.gelu(xt, approximate=approximate)
    yt.backward(torch.tensor(g))
    # torch's float32 gelu is accurate in absolute terms (1 + erf cancels for x < 0)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(ours.grad.numpy(), xt.grad.numpy(), rtol=2e-6, atol=4e-6)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradcheck(approximate, rng):
    x = tf.tensor(rng.uniform(-4, 4, (3, 5)), requires_grad=True)
    assert tf.autograd.gradcheck(lambda t: tf.nn.functional.gelu(t, approximate=approximate), [x])
    z = tf.tensor(rng.uniform(-3, 3, (4, 3)), requires_grad=True)  # double backward composes
    assert tf.autograd.gradcheck(lambda t: tf.autograd.grad(tf.nn.functional.gelu(t, approximate=approximate).sum(),
                                                            t, create_graph=True)[0], [z])


def test_gelu_op_uses_exact_erf_and_fused_backward(rng):
    x = tf.tensor(rng.uniform(-4, 4, (5, 37)), requires_grad=True)
    y = tf.nn.functional.gelu(x)
    gelu, dgelu, _, _ = reference(x.detach().numpy())
    np.testing.assert_allclose(y.detach().numpy(), gelu, rtol=1e-14, atol=1e-300)
    seed = rng.standard_normal((5, 37))
    y.backward(tf.tensor(seed))
    np.testing.assert_allclose(x.grad.numpy(), seed * dgelu, rtol=1e-12, atol=1e-15)
    z = tf.tensor(rng.uniform(-3, 3, (4, 3)), requires_grad=True)  # double backward takes the composed path
    assert tf.autograd.gradcheck(lambda t: tf.autograd.grad(tf.nn.functional.gelu(t).sum(), t, create_graph=True)[0],
                                 [z])


def test_argument_errors():
    x = np.ones(4, np.float32)
    with pytest.raises(TypeError):
        _C.gelu(x)
    with pytest.raises(TypeError, match="x must be float32 or float64, got int32"):
        _C.gelu(np.ones(4, np.int32), np.empty(4, np.int32))
    with pytest.raises(ValueError, match="x has 4 elements"):
        _C.gelu(x, np.empty(5, np.float32))
    with pytest.raises(ValueError, match="writeable|read-only"):
        out = np.empty(4, np.float32)
        out.flags.writeable = False
        _C.erf(x, out)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.erf(np.ones(8, np.float32)[::2], np.empty(4, np.float32))
    with pytest.raises(ValueError, match="overlap"):
        _C.erf(x, x)
    with pytest.raises(ValueError, match="grad has 3 elements"):
        _C.gelu_tanh_backward(x, np.ones(3, np.float32), np.empty(4, np.float32))
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        tf.nn.functional.gelu(tf.ones(3), approximate="fast")
