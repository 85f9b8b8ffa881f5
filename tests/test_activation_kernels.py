"""The elementwise activation kernels (_C.gelu, _C.gelu_backward, _C.erf) against float64
references built from math.erf, on odd and round sizes, 1 and 2 threads, outputs poisoned."""
import math

import numpy as np
import pytest

import tensorforge as tf
from tensorforge import _C

from isa_threads import threads  # noqa: F401 - fixture

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


# erfc amplifies the rounding of its argument by 2 z^2, hence a few ulp more than 1
@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-7), (np.float64, 4e-15)], ids=["f32", "f64"])
@pytest.mark.parametrize("n", SIZES)
def test_kernels_match_float64_reference(n, dtype, tol, threads, rng):
    x = rng.uniform(-6, 6, n).astype(dtype)
    g = rng.uniform(-2, 2, n).astype(dtype)
    gelu, dgelu, erf, dscale = reference(x)
    cases = [(_C.gelu, (x,), gelu, np.abs(gelu)), (_C.erf, (x,), erf, np.abs(erf)),
             (_C.gelu_backward, (x, g), g * dgelu, np.abs(g) * dscale)]
    for kernel, args, ref, scale in cases:
        out = np.full(n, np.nan, dtype)
        kernel(*args, out)
        err = np.abs(out - ref) / np.maximum(scale, np.finfo(dtype).tiny)
        assert np.all(np.isfinite(out)) and err.max() <= tol * 8, f"{kernel.__name__}: max rel err {err.max():.2e}"


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
