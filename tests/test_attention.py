"""Fused attention: the kernel (tensorforge._C.attention_*) against a float64 numpy reference on
every SIMD path and 1 and 2 threads, and F.scaled_dot_product_attention against torch, gradcheck,
dropout determinism, errors, and the linear-memory promise at L = S = 16384."""
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tensorforge
import tensorforge.nn.functional as F
from tensorforge import _C
from tensorforge.autograd import gradcheck
from helpers import assert_close, random_array, to_torch, torch_module

from isa_threads import isa, threads  # noqa: F401 - fixtures

TOL = {np.float32: 2e-5, np.float64: 1e-12}


def reference(q, k, v, scale, mask=None, causal=False, keep=None, dropout_p=0.0, dout=None):
    """float64 attention of (N, L, E) arrays; mask (bool or additive) broadcast to (N, L, S);
    keep: the dropout mask. Returns out and, with dout, (dq, dk, dv, dmask)."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    s = scale * q @ k.transpose(0, 2, 1)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    if causal:
        s = np.where(np.tril(np.ones(s.shape[1:], bool)), s, -np.inf)
    top = s.max(-1, keepdims=True)
    p = np.exp(s - np.where(np.isfinite(top), top, 0))
    total = p.sum(-1, keepdims=True)
    p = np.where(total > 0, p / np.where(total > 0, total, 1), 0)
    z = np.ones_like(p) if keep is None else keep / (1 - dropout_p)
    out = (p * z) @ v
    if dout is None:
        return out
    dp = (dout @ v.transpose(0, 2, 1)) * z
    ds = p * (dp - (p * dp).sum(-1, keepdims=True))
    return out, (scale * ds @ k, scale * ds.transpose(0, 2, 1) @ q, (p * z).transpose(0, 2, 1) @ dout, ds)


def run_kernel(q, k, v, scale, mask=None, causal=False, dropout_p=0.0, seed=0, dout=None, want_dmask=False):
    out = np.full(q.shape[:2] + v.shape[2:], np.nan, q.dtype)
    lse = np.full(q.shape[:2], np.nan, q.dtype)
    kw = dict(scale=scale, mask=mask, causal=causal, dropout_p=dropout_p, seed=seed)
    _C.attention_forward(q, k, v, out, lse, **kw)
    if dout is None:
        return out
    dq, dk, dv = (np.full(a.shape, np.nan, a.dtype) for a in (q, k, v))
    dmask = np.full(q.shape[:2] + k.shape[1:2], np.nan, q.dtype) if want_dmask else None
    _C.attention_backward(q, k, v, out, lse, dout, dq, dk, dv, dmask=dmask, **kw)
    return out, (dq, dk, dv, dmask)


def inputs(rng, n, L, S, E, Ev, dtype):
    return tuple(random_array(rng, shp).astype(dtype) for shp in ((n, L, E), (n, S, E), (n, S, Ev), (n, L, Ev)))


# (n, L, S, E, Ev). The larger ones span several query tiles (about 96 rows, rounded to the
# microkernel's MR), key blocks (192 keys, the last one ragged) and work items per problem: 3 x 250
# x 401 puts two tiles into one forward work item; 97 x 193 x 33 x 17 has one row and one key past a
# tile and a block, and head dims that fit no microkernel's MR or NR; 400 x 150 and 150 x 400 are
# causal with L > S and L < S across tiles.
SHAPES = [(1, 1, 1, 1, 1), (2, 7, 33, 16, 8), (3, 33, 7, 64, 64), (2, 127, 129, 64, 32), (1, 200, 70, 40, 96),
          (1, 16, 300, 256, 256), (3, 250, 401, 64, 64), (2, 97, 193, 33, 17), (1, 400, 150, 64, 64),
          (1, 150, 400, 64, 64), (2, 130, 60, 256, 200)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_kernel_matches_reference(rng, isa, threads, dtype, shape, causal):
    n, L, S, E, Ev = shape
    q, k, v, dout = inputs(rng, n, L, S, E, Ev, dtype)
    scale = float(rng.uniform(0.05, 0.5))
    out, grads = run_kernel(q, k, v, scale, causal=causal, dout=dout)
    ref, ref_grads = reference(q, k, v, scale, causal=causal, dout=dout)
    assert_close(out, ref, TOL[dtype])
    for got, want in zip(grads[:3], ref_grads[:3]):
        assert_close(got, want, 10 * TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_kernel_backward_past_the_kept_tiles_limit(rng, isa, threads, dtype, causal):
    """The backward keeps a work item's packed Q and dout tiles across key blocks up to 4 MiB
    (KEEP_TILES_BYTES); these problems (two key blocks, 256-wide heads) are just past it, so every
    tile is packed again per key block."""
    L = 1100 if dtype == np.float32 else 600
    q, k, v, dout = inputs(rng, 1, L, 300, 256, 256, dtype)
    out, grads = run_kernel(q, k, v, 0.1, causal=causal, dout=dout)
    ref, ref_grads = reference(q, k, v, 0.1, causal=causal, dout=dout)
    assert_close(out, ref, TOL[dtype])
    for got, want in zip(grads[:3], ref_grads[:3]):
        assert_close(got, want, 10 * TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["bool", "float"])
@pytest.mark.parametrize("mask_shape", [(33, 40), (2, 1, 33, 40), (1, 3, 1, 40), (2, 3, 33, 40)],
                         ids=lambda s: "x".join(map(str, s)))
def test_kernel_masks_broadcast(rng, isa, threads, dtype, kind, mask_shape):
    B, H, L, S, E = 2, 3, 33, 40, 24
    q, k, v, dout = inputs(rng, B * H, L, S, E, E, dtype)
    if kind == "bool":
        mask = rng.uniform(size=mask_shape) < 0.7
    else:
        mask = random_array(rng, mask_shape).astype(dtype)
    full = np.broadcast_to(mask, (B, H, L, S))
    out, grads = run_kernel(q, k, v, 0.3, mask=full, dout=dout, want_dmask=kind == "float")
    ref, ref_grads = reference(q, k, v, 0.3, mask=full.reshape(B * H, L, S), dout=dout)
    assert_close(out, ref, TOL[dtype])
    for got, want in zip(grads, ref_grads):
        if got is not None:
            assert_close(got, want, 10 * TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_kernel_mask_with_causal_across_tiles_and_blocks(rng, isa, threads, dtype, kind):
    """A per-element mask and causality together, over several query tiles and key blocks."""
    n, L, S, E = 2, 230, 410, 40
    q, k, v, dout = inputs(rng, n, L, S, E, E, dtype)
    mask = rng.uniform(size=(n, L, S)) < 0.8 if kind == "bool" else random_array(rng, (n, L, S)).astype(dtype)
    out, grads = run_kernel(q, k, v, 0.2, mask=mask, causal=True, dout=dout, want_dmask=kind == "float")
    ref, ref_grads = reference(q, k, v, 0.2, mask=mask, causal=True, dout=dout)
    assert_close(out, ref, TOL[dtype])
    for got, want in zip(grads, ref_grads):
        if got is not None:
            assert_close(got, want, 10 * TOL[dtype])


def test_kernel_fully_masked_rows_give_zeros(rng, isa):
    q, k, v, dout = inputs(rng, 2, 9, 12, 8, 8, np.float32)
    mask = rng.uniform(size=(2, 9, 12)) < 0.5
    mask[:, 3] = False
    out, (dq, dk, dv, _) = run_kernel(q, k, v, 0.5, mask=mask, dout=dout)
    assert np.all(out[:, 3] == 0) and np.all(dq[:, 3] == 0)
    ref, ref_grads = reference(q, k, v, 0.5, mask=mask, dout=dout)
    assert_close(out, ref, 2e-5)
    for got, want in zip((dq, dk, dv), ref_grads):
        assert_close(got, want, 2e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [(9, 13), (130, 250)], ids=["small", "tiles"])
def test_kernel_dropout_mask_is_the_hash_and_backward_reuses_it(rng, threads, dtype, size):
    (n, E, p, seed), (L, S) = (2, 8, 0.4, int(rng.integers(2**62))), size
    q, k, v, dout = inputs(rng, n, L, S, E, E, dtype)
    keep = np.array([[[_C.attention_dropout_keep(p, seed, L, S, b, i, j) for j in range(S)] for i in range(L)]
                     for b in range(n)], dtype=np.float64)
    assert 0 < keep.mean() < 1
    out, grads = run_kernel(q, k, v, 0.4, dropout_p=p, seed=seed, dout=dout)
    again = run_kernel(q, k, v, 0.4, dropout_p=p, seed=seed)
    np.testing.assert_array_equal(out, again)
    ref, ref_grads = reference(q, k, v, 0.4, keep=keep, dropout_p=p, dout=dout)
    assert_close(out, ref, TOL[dtype])
    for got, want in zip(grads[:3], ref_grads[:3]):
        assert_close(got, want, 10 * TOL[dtype])
    other = run_kernel(q, k, v, 0.4, dropout_p=p, seed=seed + 1)
    assert not np.array_equal(out, other)


def test_dropout_keep_rate_and_expectation(rng):
    p = 0.3
    keep = [_C.attention_dropout_keep(p, 12345, 64, 64, 0, i, j) for i in range(64) for j in range(64)]
    rate = np.mean(keep)
    assert abs(rate - (1 - p)) < 5 * np.sqrt(p * (1 - p) / len(keep))
    q, k, v = (tensorforge.tensor(random_array(rng, (1, 6, 8))) for _ in range(3))
    tensorforge.manual_seed(int(rng.integers(2**31)))
    mean = sum(F.scaled_dot_product_attention(q, k, v, dropout_p=p).numpy() for _ in range(400)) / 400
    exact = F.scaled_dot_product_attention(q, k, v).numpy()
    assert_close(mean, exact, 0.1)


def test_dropout_is_reproducible_with_manual_seed(rng):
    q, k, v = (tensorforge.tensor(random_array(rng, (2, 5, 8)).astype(np.float32), requires_grad=True)
               for _ in range(3))
    results = []
    for _ in range(2):
        tensorforge.manual_seed(7)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
        out.sum().backward()
        results.append((out.detach().numpy().copy(), q.grad.numpy().copy()))
        q.grad = None
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


# ---- F.scaled_dot_product_attention against torch ---------------------------------------------

CASES = [  # (q shape, k shape, v shape, mask shape or None, mask kind, causal)
    ((2, 3, 7, 16), (2, 3, 33, 16), (2, 3, 33, 8), None, None, False),
    ((2, 3, 33, 16), (2, 3, 7, 16), (2, 3, 7, 24), None, None, True),
    ((1, 2, 127, 32), (1, 2, 65, 32), (1, 2, 65, 32), None, None, True),
    ((2, 4, 1, 8), (2, 4, 9, 8), (2, 4, 9, 8), None, None, False),
    ((2, 4, 2, 8), (2, 4, 9, 8), (2, 4, 9, 8), None, None, True),
    ((2, 3, 7, 16), (2, 3, 33, 16), (2, 3, 33, 16), (7, 33), "bool", False),
    ((2, 3, 7, 16), (2, 3, 33, 16), (2, 3, 33, 16), (2, 1, 1, 33), "bool", False),
    ((2, 3, 7, 16), (2, 3, 33, 16), (2, 3, 33, 16), (3, 7, 33), "float", False),
    ((2, 3, 7, 16), (2, 3, 33, 16), (2, 3, 33, 16), (2, 3, 7, 1), "float", False),
    ((5, 7, 16), (5, 33, 16), (5, 33, 12), (5, 7, 33), "float", False),
    ((4, 6, 8), (1, 6, 8), (6, 8), None, None, False),  # batch dims broadcast
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[4]}{c[3]}-causal{c[5]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_functional_matches_torch(rng, case, dtype):
    torch = torch_module()
    q_shape, k_shape, v_shape, m_shape, kind, causal = case
    arrays = [random_array(rng, s).astype(dtype) for s in (q_shape, k_shape, v_shape)]
    mask = None
    if kind == "bool":
        mask = rng.uniform(size=m_shape) < 0.8
    elif kind == "float":
        mask = random_array(rng, m_shape).astype(dtype)
    scale = None if rng.uniform() < 0.5 else 0.25
    ours = [tensorforge.tensor(a, requires_grad=True) for a in arrays]
    theirs = to_torch(torch, arrays)
    out = F.scaled_dot_product_attention(*ours, attn_mask=None if mask is None else tensorforge.tensor(mask),
                                         is_causal=causal, scale=scale)
    ref = torch.nn.functional.scaled_dot_product_attention(
        *theirs, attn_mask=None if mask is None else torch.tensor(mask), is_causal=causal, scale=scale)
    g = random_array(rng, tuple(ref.shape)).astype(dtype)
    out.backward(tensorforge.tensor(g))
    ref.backward(torch.tensor(g))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert out.shape == tuple(ref.shape)
    assert_close(out.detach().numpy(), ref.detach().numpy(), tol)
    for a, b in zip(ours, theirs):
        assert_close(a.grad.numpy(), b.grad.numpy(), 20 * tol)


def test_functional_fully_masked_row_matches_torch(rng):
    torch = torch_module()
    arrays = [random_array(rng, (2, 5, 8)) for _ in range(3)]
    mask = rng.uniform(size=(5, 5)) < 0.6
    mask[2] = False
    ours = [tensorforge.tensor(a, requires_grad=True) for a in arrays]
    theirs = to_torch(torch, arrays)
    out = F.scaled_dot_product_attention(*ours, attn_mask=tensorforge.tensor(mask))
    ref = torch.nn.functional.scaled_dot_product_attention(*theirs, attn_mask=torch.tensor(mask))
    out.sum().backward()
    ref.sum().backward()
    assert np.all(out.detach().numpy()[:, 2] == 0)
    assert_close(out.detach().numpy(), ref.detach().numpy(), 1e-12)
    for a, b in zip(ours, theirs):
        assert_close(a.grad.numpy(), b.grad.numpy(), 1e-11)


@pytest.mark.parametrize("causal", [False, True])
def test_gradcheck_qkv(rng, causal):
    q, k, v = (tensorforge.tensor(random_array(rng, s), requires_grad=True) for s in ((2, 4, 3), (2, 5, 3), (2, 5, 2)))
    assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=causal), (q, k, v))


def test_gradcheck_float_mask_with_broadcast(rng):
    q, k, v = (tensorforge.tensor(random_array(rng, s), requires_grad=True) for s in ((2, 4, 3), (2, 5, 3), (2, 5, 2)))
    mask = tensorforge.tensor(random_array(rng, (1, 4, 5)), requires_grad=True)
    assert gradcheck(lambda a, b, c, m: F.scaled_dot_product_attention(a, b, c, attn_mask=m, scale=0.7),
                     (q, k, v, mask))


def test_gradcheck_with_dropout_fixed_seed(rng):
    q, k, v = (tensorforge.tensor(random_array(rng, s), requires_grad=True) for s in ((1, 4, 3), (1, 6, 3), (1, 6, 2)))
    seed = int(rng.integers(2**31))

    def fn(a, b, c):
        tensorforge.manual_seed(seed)
        return F.scaled_dot_product_attention(a, b, c, dropout_p=0.3)
    assert gradcheck(fn, (q, k, v))


# ---- errors --------------------------------------------------------------------------------

def test_errors_name_the_problem(rng):
    q = tensorforge.tensor(random_array(rng, (2, 4, 8)).astype(np.float32))
    k8 = tensorforge.tensor(random_array(rng, (2, 5, 8)).astype(np.float32))
    with pytest.raises(RuntimeError, match="head dims differ"):
        F.scaled_dot_product_attention(q, tensorforge.tensor(random_array(rng, (2, 5, 6)).astype(np.float32)), k8)
    with pytest.raises(RuntimeError, match="sequence lengths differ"):
        F.scaled_dot_product_attention(q, k8, tensorforge.tensor(random_array(rng, (2, 6, 8)).astype(np.float32)))
    with pytest.raises(RuntimeError, match="does not broadcast"):
        F.scaled_dot_product_attention(q, k8, k8, attn_mask=tensorforge.tensor(np.ones((4, 4), bool)))
    with pytest.raises(RuntimeError, match="is_causal"):
        F.scaled_dot_product_attention(q, k8, k8, attn_mask=tensorforge.tensor(np.ones((4, 5), bool)), is_causal=True)
    with pytest.raises(TypeError, match="share a dtype"):
        F.scaled_dot_product_attention(q, k8, tensorforge.tensor(random_array(rng, (2, 5, 8))))
    with pytest.raises(RuntimeError, match="batch dims"):
        F.scaled_dot_product_attention(q, tensorforge.tensor(random_array(rng, (3, 5, 8)).astype(np.float32)), k8)
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(q, k8, k8, dropout_p=1.0)


def test_kernel_binding_rejects_bad_arrays(rng):
    q = random_array(rng, (2, 4, 8)).astype(np.float32)
    k = random_array(rng, (2, 5, 8)).astype(np.float32)
    out, lse = np.empty((2, 4, 8), np.float32), np.empty((2, 4), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.attention_forward(q[:, :, ::2], k[:, :, ::2], k, out, lse, scale=1.0)
    with pytest.raises(ValueError, match="lse has shape"):
        _C.attention_forward(q, k, k, out, np.empty((2, 5), np.float32), scale=1.0)
    with pytest.raises(TypeError, match="dtype mismatch"):
        _C.attention_forward(q, k.astype(np.float64), k, out, lse, scale=1.0)
    with pytest.raises(ValueError, match="mask must end in"):
        _C.attention_forward(q, k, k, out, lse, scale=1.0, mask=np.ones((2, 5, 4), bool))
    with pytest.raises(ValueError, match="dropout_p"):
        _C.attention_forward(q, k, k, out, lse, scale=1.0, dropout_p=-0.1)


# ---- memory: linear in sequence length ---------------------------------------------------------

@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc (Linux)")
def test_long_sequence_forward_backward_allocates_nothing_l_by_s():
    """L = S = 16384, E = 64, batch x heads = 2 (causal to keep the runtime down): peak RSS growth
    over the inputs (outputs and gradients are 8 MiB each) stays far below one L x S float32
    matrix (1 GiB). VmHWM, not ru_maxrss: the latter carries the parent's peak across exec."""
    script = textwrap.dedent("""
        import numpy as np, tensorforge, tensorforge.nn.functional as F
        def peak_rss():  # this process's high-water RSS in bytes (ru_maxrss would carry the parent's over exec)
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
        rng = np.random.default_rng(0)
        q, k, v = (tensorforge.tensor(rng.standard_normal((1, 2, 16384, 64), dtype=np.float32),
                                      requires_grad=True) for _ in range(3))
        g = tensorforge.tensor(rng.standard_normal((1, 2, 16384, 64), dtype=np.float32))
        before = peak_rss()
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.backward(g)
        after = peak_rss()
        assert np.isfinite(q.grad.numpy()).all() and np.isfinite(k.grad.numpy()).all()
        print(after - before)
    """)
    env_path = str(Path(tensorforge.__file__).resolve().parent.parent)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": env_path, "TENSORFORGE_NUM_THREADS": "2"})
    assert res.returncode == 0, res.stderr
    growth = int(res.stdout.split()[-1])
    assert growth < 128 * 2**20, f"peak RSS grew by {growth / 2**20:.1f} MiB (one L x S float32 matrix is 1024 MiB)"
