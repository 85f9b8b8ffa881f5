"""The fused multi-tensor Adam / AdamW kernel (tensorforge._C.adam_step) against a float64 reference.

Every case runs on every SIMD path this CPU can execute and on 1 and 2 threads. The kernel
updates in place, so instead of poisoning outputs each array sits inside a NaN-filled buffer:
the guards around it must stay NaN (no write past a ragged tail) and no NaN may leak in.
"""
import numpy as np
import pytest

from tensorforge import _C

from isa_threads import ISAS, isa, threads  # noqa: F401 - fixtures

GUARD = 16
SIZES = [1, 7, 33, 1000, 1023, 1024, 4097, 70001]


def guarded(values, dtype):
    """A contiguous copy of `values` inside a NaN buffer with GUARD elements either side; returns (buffer, view)."""
    buf = np.full(values.size + 2 * GUARD, np.nan, dtype)
    view = buf[GUARD:GUARD + values.size].reshape(values.shape)
    view[...] = values
    return buf, view


def reference(p, g, m, v, vmax, h):
    """One step in float64 from the same inputs (the formula of tensorforge/adam.h)."""
    p, g, m, v = (x.astype(np.float64) for x in (p, g, m, v))
    if h.maximize:
        g = -g
    if h.weight_decay:
        if h.decoupled_weight_decay:
            p = p * (1 - h.lr * h.weight_decay)
        else:
            g = g + h.weight_decay * p
    m = m + (1 - h.beta1) * (g - m)
    v = h.beta2 * v + (1 - h.beta2) * g * g
    if h.amsgrad:
        vmax = np.maximum(vmax.astype(np.float64), v)
    denom = np.sqrt(vmax if h.amsgrad else v) / np.sqrt(1 - h.beta2 ** h.step) + h.eps
    p = p - h.lr / (1 - h.beta1 ** h.step) * m / denom
    return p, m, v, vmax


def make_case(rng, sizes, dtype, hypers):
    """Random tensors (2-D where the size allows) with random state, each assigned a random hyper entry."""
    tensors = []
    for n in sizes:
        shape = (n // 7, 7) if n % 7 == 0 and n > 7 else (n,)
        vals = [x.astype(dtype) for x in (rng.standard_normal(shape), rng.standard_normal(shape),
                                           0.1 * rng.standard_normal(shape), rng.uniform(0.01, 1.0, shape),
                                           rng.uniform(1.0, 2.0, shape))]
        tensors.append({"ref": vals, "arrays": [guarded(x, dtype) for x in vals], "hyper": int(rng.integers(len(hypers)))})
    return tensors


def run_and_check(tensors, hypers, dtype, tol):
    """Runs one call; each output field, concatenated over all tensors, within `tol` of the float64
    reference (||out - ref|| / ||ref||), and every element within 10 * tol of it relative to the field's
    RMS (a size-1 tensor whose moment nearly cancels must not hide a wrong tail)."""
    lists = [[t["arrays"][j][1] for t in tensors] for j in range(5)]
    ams = any(h.amsgrad for h in hypers)
    _C.adam_step(lists[0], lists[1], lists[2], lists[3], lists[4] if ams else None, hypers,
                 [t["hyper"] for t in tensors])
    fields = [(0, "param"), (2, "exp_avg"), (3, "exp_avg_sq")] + ([(4, "max_exp_avg_sq")] if ams else [])
    for j, name in fields:
        outs, refs = [], []
        for i, t in enumerate(tensors):
            buf, view = t["arrays"][j]
            assert np.isnan(buf[:GUARD]).all() and np.isnan(buf[-GUARD:]).all(), f"tensor {i}: write outside {name}"
            assert np.isfinite(view).all(), f"tensor {i}: NaN in {name}"
            want = reference(*t["ref"], hypers[t["hyper"]])
            outs.append(view.ravel())
            refs.append(want[{0: 0, 2: 1, 3: 2, 4: 3}[j]].ravel() if hypers[t["hyper"]].amsgrad or j < 4
                        else t["ref"][4].ravel())
        out, ref = np.concatenate(outs), np.concatenate(refs)
        err = np.linalg.norm(out - ref) / np.linalg.norm(ref)
        assert err < tol, f"{name}: relative error {err:.2e}"
        worst = np.abs(out - ref).max() / np.sqrt(np.mean(ref ** 2))
        assert worst < 10 * tol, f"{name}: worst element off by {worst:.2e} of the RMS"
    for i, t in enumerate(tensors):
        assert np.array_equal(t["arrays"][1][1], t["ref"][1]), f"grads[{i}] was modified"


HYPERS = {
    "adamw": dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True),
    "adam_l2": dict(lr=1e-2, weight_decay=0.1),
    "adam_plain": dict(lr=3e-3),
    "amsgrad": dict(lr=1e-2, amsgrad=True, weight_decay=0.05, decoupled_weight_decay=True),
    "maximize": dict(lr=1e-2, maximize=True, weight_decay=0.1),
    "small_beta1": dict(lr=1e-2, beta1=0.3, beta2=0.6, eps=1e-3),
}


@pytest.mark.parametrize("name", list(HYPERS))
def test_options_f32(rng, isa, threads, name):
    hypers = [_C.AdamHyper(step=int(rng.integers(1, 50)), **HYPERS[name])]
    tensors = make_case(rng, SIZES, np.float32, hypers)
    run_and_check(tensors, hypers, np.float32, 1e-6)


def test_many_tensors_mixed_hypers_f32(rng, isa, threads):
    hypers = [_C.AdamHyper(step=s, **kw) for s, kw in zip(rng.integers(1, 1000, len(HYPERS)), HYPERS.values())]
    sizes = list(rng.choice(SIZES, 60)) + [1, 1, 7]
    tensors = make_case(rng, sizes, np.float32, hypers)
    run_and_check(tensors, hypers, np.float32, 1e-6)


@pytest.mark.parametrize("name", list(HYPERS))
def test_options_f64(rng, threads, name):
    hypers = [_C.AdamHyper(step=int(rng.integers(1, 50)), **HYPERS[name])]
    tensors = make_case(rng, SIZES, np.float64, hypers)
    run_and_check(tensors, hypers, np.float64, 1e-13)


@pytest.mark.skipif(len(ISAS) < 2, reason="only one SIMD path on this CPU")
@pytest.mark.parametrize("name", list(HYPERS))
def test_every_isa_gives_the_same_bits(rng, name):
    """No FMA contraction anywhere: every SIMD path rounds exactly like the portable one."""
    hypers = [_C.AdamHyper(step=7, **HYPERS[name])]
    start = [[rng.standard_normal(n).astype(np.float32) for _ in range(2)] + [
        (0.1 * rng.standard_normal(n)).astype(np.float32), rng.uniform(0.01, 1, n).astype(np.float32),
        rng.uniform(1, 2, n).astype(np.float32)] for n in SIZES]
    results = {}
    old = _C.active_isa()
    try:
        for isa in ISAS:
            _C.set_active_isa(isa)
            arrays = [[x.copy() for x in t] for t in start]
            _C.adam_step(*[[t[j] for t in arrays] for j in range(5)], hypers)
            results[isa] = arrays
    finally:
        _C.set_active_isa(old)
    for isa in ISAS[1:]:
        for a, b in zip(results[isa], results["baseline"]):
            for x, y in zip(a, b):
                assert np.array_equal(x, y), f"{isa} differs from baseline"


def test_empty_lists_and_empty_tensors(rng):
    h = [_C.AdamHyper()]
    _C.adam_step([], [], [], [], None, h)
    e = [np.zeros(0, np.float32) for _ in range(4)]
    _C.adam_step([e[0]], [e[1]], [e[2]], [e[3]], None, h)


def four(n=5, dtype=np.float32):
    return [np.ones(n, dtype), np.ones(n, dtype), np.zeros(n, dtype), np.zeros(n, dtype)]


@pytest.mark.parametrize("field,value,match", [
    ("lr", -1.0, "learning rate"), ("beta1", 1.0, "beta1"), ("beta2", -0.1, "beta2"), ("eps", -1e-8, "epsilon"),
    ("weight_decay", -0.1, "weight_decay"), ("step", 0, "step")])
def test_bad_hyper_parameters(field, value, match):
    p, g, m, v = four()
    with pytest.raises(ValueError, match=match):
        _C.adam_step([p], [g], [m], [v], None, [_C.AdamHyper(**{field: value})])


def test_bad_arrays():
    h = [_C.AdamHyper()]
    p, g, m, v = four()
    with pytest.raises(ValueError, match="same length"):
        _C.adam_step([p], [g, g], [m], [v], None, h)
    with pytest.raises(ValueError, match="shape"):
        _C.adam_step([p], [np.ones(6, np.float32)], [m], [v], None, h)
    with pytest.raises(TypeError, match="dtype"):
        _C.adam_step([p], [np.ones(5)], [m], [v], None, h)
    with pytest.raises(TypeError, match="float32 or float64"):
        _C.adam_step([np.ones(5, np.int32)], [g], [m], [v], None, h)
    with pytest.raises(TypeError, match="numpy array"):
        _C.adam_step([p], [[1.0] * 5], [m], [v], None, h)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.adam_step([np.ones(10, np.float32)[::2]], [g], [m], [v], None, h)
    ro = np.zeros(5, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _C.adam_step([p], [g], [ro], [v], None, h)
    with pytest.raises(ValueError, match="overlaps"):
        _C.adam_step([p], [g], [m], [m], None, h)
    with pytest.raises(ValueError, match="out of range"):
        _C.adam_step([p], [g], [m], [v], None, h, [1])
    with pytest.raises(ValueError, match="max_exp_avg_sqs is None"):
        _C.adam_step([p], [g], [m], [v], None, [_C.AdamHyper(amsgrad=True)])
    with pytest.raises(ValueError, match="hypers is empty"):
        _C.adam_step([p], [g], [m], [v], None, [])
