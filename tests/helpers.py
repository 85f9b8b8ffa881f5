"""Shared test helpers: random inputs, float64 numpy references, and torch (optional) comparisons."""
import numpy as np
import pytest


def rel_err(out, ref):
    """||out - ref|| / ||ref|| (absolute error when ref is all zeros)."""
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert out.shape == ref.shape, f"shape {out.shape} != reference shape {ref.shape}"
    denom = np.linalg.norm(ref)
    num = np.linalg.norm(out - ref)
    return num / denom if denom > 0 else num


def assert_close(out, ref, tol):
    err = rel_err(out, ref)
    assert err <= tol, f"relative error {err:.3e} > {tol:.1e}"


def assert_product_close(out, a, b, tol):
    """out against a @ b taken in float64 from the same (already rounded) inputs, the error measured against
    |a| @ |b|, the scale a summation error grows with: a cancelling product (a small result from large
    terms) does not read as a large relative error, a wrong element still does."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ref, scale = a64 @ b64, np.abs(a64) @ np.abs(b64)
    out = np.asarray(out, dtype=np.float64)
    assert out.shape == ref.shape, f"shape {out.shape} != reference shape {ref.shape}"
    err = np.linalg.norm(out - ref) / max(np.linalg.norm(scale), 1e-300)
    assert err <= tol, f"error {err:.3e} of the |a| @ |b| scale > {tol:.1e}"


def random_array(rng, shape, low=-2.0, high=2.0, away_from=None, gap=0.05):
    """Fresh uniform float64 values in [low, high), never exactly zero; values within `gap` of the
    kinks listed in away_from are pushed away so finite differences stay on one side."""
    a = rng.uniform(low, high, size=shape)
    a[a == 0] = 0.5 * (low + high) or 0.25
    for k in away_from or ():
        near = np.abs(a - k) < gap
        a[near] = k + np.where(a[near] >= k, gap, -gap) * 2
    return a


def torch_module():
    return pytest.importorskip("torch")


def to_torch(torch, arrays, requires_grad=True):
    out = []
    for a in arrays:
        t = torch.tensor(a)
        if requires_grad and t.is_floating_point():
            t.requires_grad_(True)
        out.append(t)
    return out
