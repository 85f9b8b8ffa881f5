"""Our CUDA kernels on a GPU, against float64 CPU references (and torch where it has CUDA).

Skips as a whole unless cupy imports and tensorforge.cuda.is_available() (CUDA built, GPU
visible). Outputs are poisoned with NaN before each run, inputs are fresh random data, sizes
include odd ones. bench/gpu_suite.sh runs this file on a GPU machine.
"""
import os

import numpy as np
import pytest

cp = pytest.importorskip("cupy")

import tensorforge.cuda as tfc  # noqa: E402

if not tfc.is_available():
    pytest.skip("CUDA kernels not built or no GPU visible", allow_module_level=True)

if os.environ.get("TENSORFORGE_TEST_NO_CUPY_POOL"):
    # Every array its own cudaMalloc, so compute-sanitizer's memcheck sees out-of-bounds accesses
    # that a pooled allocation would hide (bench/gpu_suite.sh sets this for its memcheck pass).
    cp.cuda.set_allocator(None)


@pytest.fixture(autouse=True)
def _sync_after_each_test():
    yield
    cp.cuda.Device().synchronize()  # a fault inside a kernel surfaces here, in the test that caused it


def rel_err(out, ref):
    out = np.asarray(out, np.float64)
    ref = np.asarray(ref, np.float64)
    return np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-300)


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def gemm_ref(a, b, c0, alpha, beta):
    """float64 reference of alpha * a @ b + beta * c0 (c0 ignored when beta == 0)."""
    r = alpha * (np.asarray(a, np.float64) @ np.asarray(b, np.float64))
    if beta != 0:
        r = r + beta * np.asarray(c0, np.float64)
    return r


def device_operand(rng, rows, cols, trans, pad=0, offset=0):
    """A (rows, cols) float32 cupy operand: row-major, or the .T view of a (cols, rows) array when
    trans; `pad` widens the stored rows (leading dimension > width); `offset` shifts the start by
    that many elements (breaks 16-byte alignment, so the kernel takes its scalar-load path)."""
    sr, sc = (cols, rows) if trans else (rows, cols)
    host = randn(rng, sr, sc + pad)
    flat = cp.empty(offset + host.size, cp.float32)
    flat[offset:] = cp.asarray(host.ravel())
    stored = flat[offset:].reshape(sr, sc + pad)[:, :sc]
    view = stored.T if trans else stored
    ref = host[:, :sc].T if trans else host[:, :sc]
    assert view.shape == (rows, cols)
    return view, ref


def poisoned(shape):
    out = cp.empty(shape, cp.float32)
    out.fill(np.nan)
    return out


ODD_AND_ROUND = [(1, 1, 1), (7, 7, 7), (1, 33, 127), (33, 1, 7), (127, 33, 1), (1000, 1023, 33),
                 (1023, 1000, 127), (64, 64, 64), (128, 128, 8), (256, 256, 256), (96, 200, 1000)]


@pytest.mark.parametrize("m,n,k", ODD_AND_ROUND)
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
def test_gemm_matches_float64(rng, m, n, k, ta, tb):
    a, ar = device_operand(rng, m, k, ta)
    b, br = device_operand(rng, k, n, tb)
    out = poisoned((m, n))
    res = tfc.gemm(a, b, out)  # beta == 0: the NaNs in out must be ignored
    assert res is out
    host = cp.asnumpy(out)
    assert np.isfinite(host).all(), "some outputs were not written (NaN poison left)"
    assert rel_err(host, gemm_ref(ar, br, None, 1.0, 0.0)) < 1e-5


@pytest.mark.parametrize("m,n,k", [(2048, 1536, 257), (2049, 1537, 63), (1536, 2048, 1024)])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, True)])
def test_gemm_large_tiles(rng, m, n, k, ta, tb):
    """Enough blocks for the 128 x 128 configuration on any GPU of up to ~190 SMs."""
    a, ar = device_operand(rng, m, k, ta)
    b, br = device_operand(rng, k, n, tb)
    out = poisoned((m, n))
    tfc.gemm(a, b, out)
    host = cp.asnumpy(out)
    assert np.isfinite(host).all()
    assert rel_err(host, gemm_ref(ar, br, None, 1.0, 0.0)) < 1e-5


@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (-0.5, 1.5), (2.0, -1.0), (0.0, 0.5), (0.25, 0.0)])
@pytest.mark.parametrize("m,n,k", [(33, 65, 17), (300, 260, 129)])
def test_gemm_alpha_beta(rng, alpha, beta, m, n, k):
    a, ar = device_operand(rng, m, k, False)
    b, br = device_operand(rng, k, n, True)
    c0 = randn(rng, m, n)
    out = cp.asarray(c0)
    tfc.gemm(a, b, out, alpha=alpha, beta=beta)
    assert rel_err(cp.asnumpy(out), gemm_ref(ar, br, c0, alpha, beta)) < 1e-5


@pytest.mark.parametrize("pad,offset", [(3, 0), (4, 0), (0, 1), (5, 3)])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True)])
def test_gemm_leading_dimensions_and_misalignment(rng, pad, offset, ta, tb):
    m, n, k = 131, 77, 45
    a, ar = device_operand(rng, m, k, ta, pad=pad, offset=offset)
    b, br = device_operand(rng, k, n, tb, pad=pad, offset=offset)
    big = cp.empty((m, n + pad + offset), cp.float32)
    big.fill(np.nan)
    out = big[:, offset:offset + n]  # ld > n, and start misaligned when offset % 4 != 0
    tfc.gemm(a, b, out)
    host = cp.asnumpy(big)
    assert np.isfinite(host[:, offset:offset + n]).all()
    assert np.isnan(host[:, :offset]).all() and np.isnan(host[:, offset + n:]).all(), "wrote outside out"
    assert rel_err(host[:, offset:offset + n], gemm_ref(ar, br, None, 1.0, 0.0)) < 1e-5


def test_gemm_k_zero_scales_c(rng):
    a = cp.empty((5, 0), cp.float32)
    b = cp.empty((0, 6), cp.float32)
    c0 = randn(rng, 5, 6)
    out = cp.asarray(c0)
    tfc.gemm(a, b, out, alpha=3.0, beta=0.5)
    np.testing.assert_allclose(cp.asnumpy(out), 0.5 * c0, rtol=1e-6)
    out = poisoned((5, 6))
    tfc.gemm(a, b, out)
    assert (cp.asnumpy(out) == 0).all()


@pytest.mark.parametrize("batch,m,n,k", [(1, 7, 9, 11), (3, 33, 17, 65), (8, 128, 96, 40), (5, 1000, 3, 7)])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, True), (False, True)])
def test_gemm_batched(rng, batch, m, n, k, ta, tb):
    ah = randn(rng, batch, *((k, m) if ta else (m, k)))
    bh = randn(rng, batch, *((n, k) if tb else (k, n)))
    a = cp.asarray(ah)
    b = cp.asarray(bh)
    if ta:
        a, ah = a.transpose(0, 2, 1), ah.transpose(0, 2, 1)
    if tb:
        b, bh = b.transpose(0, 2, 1), bh.transpose(0, 2, 1)
    c0 = randn(rng, batch, m, n)
    out = cp.asarray(c0)
    tfc.gemm(a, b, out, alpha=0.75, beta=-0.5)
    assert rel_err(cp.asnumpy(out), gemm_ref(ah, bh, c0, 0.75, -0.5)) < 1e-5


def test_gemm_batched_broadcast_operand(rng):
    batch, m, n, k = 6, 45, 70, 33
    ah = randn(rng, batch, m, k)
    bh = randn(rng, k, n)
    a = cp.asarray(ah)
    b = cp.broadcast_to(cp.asarray(bh), (batch, k, n))  # batch stride 0
    assert b.strides[0] == 0
    out = poisoned((batch, m, n))
    tfc.gemm(a, b, out)
    assert rel_err(cp.asnumpy(out), gemm_ref(ah, np.broadcast_to(bh, (batch, k, n)), None, 1.0, 0.0)) < 1e-5


def test_gemm_out_none_allocates(rng):
    ah, bh = randn(rng, 20, 30), randn(rng, 30, 40)
    out = tfc.gemm(cp.asarray(ah), cp.asarray(bh))
    assert isinstance(out, cp.ndarray) and out.shape == (20, 40) and out.dtype == cp.float32
    assert rel_err(cp.asnumpy(out), ah.astype(np.float64) @ bh) < 1e-5


def test_gemm_grid_split_over_many_row_tiles_and_batches(rng):
    # > 65535 row tiles (the grid y limit) even of 128 rows: split into several launches
    m = 65535 * 128 + 77
    ah, bh = randn(rng, m, 2), randn(rng, 2, 3)
    out = poisoned((m, 3))
    tfc.gemm(cp.asarray(ah), cp.asarray(bh), out)
    host = cp.asnumpy(out)
    assert np.isfinite(host).all()
    assert rel_err(host, ah.astype(np.float64) @ bh) < 1e-5
    # > 65535 batch entries (grid z limit)
    batch = 70001
    ah, bh = randn(rng, batch, 1, 3), randn(rng, batch, 3, 2)
    out = poisoned((batch, 1, 2))
    tfc.gemm(cp.asarray(ah), cp.asarray(bh), out)
    host = cp.asnumpy(out)
    assert np.isfinite(host).all()
    assert rel_err(host, ah.astype(np.float64) @ bh) < 1e-5


def test_gemm_on_a_non_default_stream(rng):
    ah, bh = randn(rng, 300, 200), randn(rng, 200, 100)
    s = cp.cuda.Stream(non_blocking=True)
    with s:
        a, b, out = cp.asarray(ah), cp.asarray(bh), poisoned((300, 100))
        tfc.gemm(a, b, out)  # default: cupy's current stream, i.e. s
        s.synchronize()
        host = cp.asnumpy(out)
    assert rel_err(host, ah.astype(np.float64) @ bh) < 1e-5


def round_inputs(x, precision):
    """x rounded as the tensor-core path rounds its inputs, by arithmetic (not bit tricks): tf32 keeps
    11 significant bits, ties away from zero; bfloat16 keeps 8, ties to even."""
    bits = {"high": 11, "medium": 8}[precision]
    m, e = np.frexp(np.asarray(x, np.float64))
    scaled = np.ldexp(m, bits)
    r = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) if precision == "high" else np.rint(scaled)
    return np.ldexp(r, e - bits)


TENSOR_CORE_SHAPES = [(1, 1, 1), (7, 5, 3), (33, 65, 70), (127, 129, 1000), (1000, 1023, 33), (256, 256, 256),
                      (1024, 512, 777)]


@pytest.mark.parametrize("precision", ["high", "medium"])
@pytest.mark.parametrize("m,n,k", TENSOR_CORE_SHAPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
def test_tensor_core_gemm_matches_rounded_float64(rng, precision, m, n, k, ta, tb):
    if cp.cuda.Device().compute_capability < "80":
        pytest.skip("the tensor-core path needs compute capability 8.0")
    a, ar = device_operand(rng, m, k, ta)
    b, br = device_operand(rng, k, n, tb)
    out = poisoned((m, n))
    tfc.gemm(a, b, out, precision=precision)
    host = cp.asnumpy(out)
    # Exactly the rounded inputs, float32 accumulation: as tight as the fp32 kernel.
    assert rel_err(host, round_inputs(ar, precision) @ round_inputs(br, precision)) < 1e-5
    # And the rounding is the advertised one, no coarser: within tf32 / bf16 of the exact product.
    assert rel_err(host, gemm_ref(ar, br, None, 1.0, 0.0)) < {"high": 2e-3, "medium": 1.6e-2}[precision]


@pytest.mark.parametrize("precision", ["high", "medium"])
def test_tensor_core_gemm_alpha_beta_batched_broadcast(rng, precision):
    if cp.cuda.Device().compute_capability < "80":
        pytest.skip("the tensor-core path needs compute capability 8.0")
    batch, m, n, k = 3, 130, 67, 45
    ah, bh, c0 = randn(rng, batch, m, k), randn(rng, k, n), randn(rng, batch, m, n)
    a = cp.asarray(ah)
    b = cp.broadcast_to(cp.asarray(bh), (batch, k, n))  # batch stride 0
    out = cp.asarray(c0)
    tfc.gemm(a, b, out, alpha=0.75, beta=-0.5, precision=precision)
    ref = 0.75 * (round_inputs(ah, precision) @ round_inputs(bh, precision)) - 0.5 * c0.astype(np.float64)
    assert rel_err(cp.asnumpy(out), ref) < 1e-5


def test_tensor_core_gemm_matches_torch_tf32(rng):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available() or cp.cuda.Device().compute_capability < "80":
        pytest.skip("needs torch CUDA and compute capability 8.0")
    ah, bh = randn(rng, 512, 384), randn(rng, 384, 640)
    ours = cp.asnumpy(tfc.gemm(cp.asarray(ah), cp.asarray(bh), precision="high"))
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        theirs = (torch.from_numpy(ah).cuda() @ torch.from_numpy(bh).cuda()).cpu().numpy()
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    exact = ah.astype(np.float64) @ bh
    # Both round to tf32 (cuBLAS may round differently): each within tf32 of the exact product.
    assert rel_err(ours, exact) < 2e-3 and rel_err(theirs, exact) < 2e-3


def test_gemm_matches_cupy_matmul(rng):
    ah, bh = randn(rng, 513, 257), randn(rng, 257, 1025)
    a, b = cp.asarray(ah), cp.asarray(bh)
    ours = tfc.gemm(a, b)
    assert rel_err(cp.asnumpy(ours), cp.asnumpy(a @ b)) < 1e-5


def _skip_unless_wgmma():
    if not tfc.tensor_core_path().startswith("wgmma"):
        pytest.skip("the wgmma kernel needs a compute capability 9.0 GPU and this build's sm_90a code; here the "
                    f"tensor-core path is {tfc.tensor_core_path()}")


def test_tensor_core_path_names_the_kernel_in_use():
    path, cc = tfc.tensor_core_path(), cp.cuda.Device().compute_capability
    if cc < "80":
        assert path.startswith("none"), path
    elif cc == "90" and "90a" in tfc.build_info():  # gpu_suite.sh builds 90a-real on Hopper
        assert path.startswith("wgmma"), path
    else:
        assert path.startswith("mma.sync"), path


WGMMA_SHAPES = TENSOR_CORE_SHAPES + [(129, 130, 4096), (384, 256, 100)]


@pytest.mark.parametrize("precision", ["high", "medium"])
@pytest.mark.parametrize("m,n,k", WGMMA_SHAPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
def test_wgmma_gemm_matches_rounded_float64(rng, precision, m, n, k, ta, tb):
    _skip_unless_wgmma()
    a, ar = device_operand(rng, m, k, ta)
    b, br = device_operand(rng, k, n, tb)
    out = poisoned((m, n))
    tfc.gemm(a, b, out, precision=precision, tensor_core="wgmma")
    host = cp.asnumpy(out)
    assert rel_err(host, round_inputs(ar, precision) @ round_inputs(br, precision)) < 1e-5
    assert rel_err(host, gemm_ref(ar, br, None, 1.0, 0.0)) < {"high": 2e-3, "medium": 1.6e-2}[precision]


@pytest.mark.parametrize("precision", ["high", "medium"])
@pytest.mark.parametrize("pad,offset", [(0, 1), (3, 0), (5, 3)])
def test_wgmma_gemm_leading_dims_alpha_beta_batched(rng, precision, pad, offset):
    _skip_unless_wgmma()
    batch, m, n, k = 3, 130, 67, 45
    ah, bh, c0 = randn(rng, batch, m, k + pad), randn(rng, k, n), randn(rng, batch, m, n)
    flat = cp.empty(offset + ah.size, cp.float32)
    flat[offset:] = cp.asarray(ah.ravel())
    a = flat[offset:].reshape(ah.shape)[:, :, :k]  # lda = k + pad, misaligned by `offset`
    b = cp.broadcast_to(cp.asarray(bh), (batch, k, n))  # batch stride 0
    out = cp.asarray(c0)
    tfc.gemm(a, b, out, alpha=0.75, beta=-0.5, precision=precision, tensor_core="wgmma")
    ref = 0.75 * (round_inputs(ah[:, :, :k], precision) @ round_inputs(bh, precision)) - 0.5 * c0.astype(np.float64)
    assert rel_err(cp.asnumpy(out), ref) < 1e-5


def test_wgmma_gemm_k_zero_scales_c(rng):
    _skip_unless_wgmma()
    c0 = randn(rng, 5, 6)
    out = cp.asarray(c0)
    tfc.gemm(cp.empty((5, 0), cp.float32), cp.empty((0, 6), cp.float32), out, alpha=3.0, beta=0.5, precision="high",
             tensor_core="wgmma")
    assert rel_err(cp.asnumpy(out), 0.5 * c0.astype(np.float64)) < 1e-6


@pytest.mark.parametrize("precision", ["high", "medium"])
def test_wgmma_and_mma_sync_agree_and_match_torch(rng, precision):
    _skip_unless_wgmma()
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs torch with CUDA")
    ah, bh = randn(rng, 1000, 777), randn(rng, 777, 1030)
    a, b = cp.asarray(ah), cp.asarray(bh)
    ours = cp.asnumpy(tfc.gemm(a, b, precision=precision, tensor_core="wgmma"))
    mma_sync = cp.asnumpy(tfc.gemm(a, b, precision=precision, tensor_core="mma_sync"))
    assert rel_err(ours, mma_sync) < 2e-5  # the same rounded products, summed in another order
    ta, tb = torch.from_numpy(ah).cuda(), torch.from_numpy(bh).cuda()
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        theirs = (ta @ tb if precision == "high" else (ta.bfloat16() @ tb.bfloat16()).float()).cpu().numpy()
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    # cuBLAS may round its inputs differently (and its bf16 result is rounded to bfloat16): each
    # within tf32 / bf16 of the exact product, and so within twice that of each other.
    tol = {"high": 2e-3, "medium": 1.6e-2}[precision]
    exact = ah.astype(np.float64) @ bh
    assert rel_err(ours, exact) < tol and rel_err(theirs, exact) < tol and rel_err(ours, theirs) < 2 * tol


def test_wgmma_refused_off_hopper(rng):
    if tfc.tensor_core_path().startswith("wgmma"):
        pytest.skip("this GPU runs the wgmma kernel")
    a = cp.asarray(randn(rng, 8, 8))
    with pytest.raises(RuntimeError, match="wgmma"):
        tfc.gemm(a, a, precision="high", tensor_core="wgmma")


def test_gemm_torch_tensors(rng):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    ah, bh = randn(rng, 65, 33), randn(rng, 33, 17)
    a = torch.from_numpy(ah).cuda()
    b = torch.from_numpy(bh).cuda().T.contiguous().T  # a transposed view
    out = tfc.gemm(a, b)
    assert isinstance(out, torch.Tensor) and out.is_cuda
    torch.cuda.synchronize()
    assert rel_err(out.cpu().numpy(), ah.astype(np.float64) @ bh) < 1e-5


def test_gemm_rejects_bad_device_inputs(rng):
    a = cp.asarray(randn(rng, 3, 4))
    b = cp.asarray(randn(rng, 4, 5))
    with pytest.raises(TypeError, match="must be a CUDA array"):
        tfc.gemm(np.zeros((3, 4), np.float32), b, cp.empty((3, 5), cp.float32))
    with pytest.raises(TypeError, match="float32"):
        tfc.gemm(a.astype(cp.float64), b, cp.empty((3, 5), cp.float32))
    with pytest.raises(ValueError, match="shape mismatch"):
        tfc.gemm(a, a, cp.empty((3, 4), cp.float32))
    with pytest.raises(ValueError, match="contiguous along one of its last two"):
        tfc.gemm(cp.asarray(randn(rng, 6, 8))[::2, ::2], b, cp.empty((3, 5), cp.float32))

    host = np.zeros((3, 5), np.float32)

    class HostMemory:  # a host pointer dressed up as a device array
        __cuda_array_interface__ = {"shape": (3, 5), "typestr": "<f4", "strides": None,
                                    "data": (host.ctypes.data, False), "version": 3}

    with pytest.raises(ValueError, match="not in GPU memory"):
        tfc.gemm(a, b, HostMemory())
    out = cp.empty((3, 5), cp.float32)
    with pytest.raises(ValueError, match="out overlaps"):
        tfc.gemm(a, b, b[:3])  # out is part of b
    tfc.gemm(a, b, out)  # and the device still works afterwards


# ---- Adam / AdamW ------------------------------------------------------------------------------

def adam_ref(p, g, m, v, *, lr, beta1, beta2, eps, weight_decay, step, adamw):
    """PyTorch's Adam/AdamW (amsgrad=False, maximize=False) in float64."""
    p, g, m, v = (np.asarray(x, np.float64) for x in (p, g, m, v))
    if adamw:
        p = p * (1 - lr * weight_decay)
    elif weight_decay != 0:
        g = g + weight_decay * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    bc1 = 1 - beta1 ** step
    bc2 = 1 - beta2 ** step
    p = p - (lr / bc1) * m / (np.sqrt(v) / np.sqrt(bc2) + eps)
    return p, m, v


ADAM_SHAPES = [(1,), (5,), (0,), (4096,), (4097,), (3, 7), (10000,), (129, 33), (8191,), (70000,)]


def misaligned(host):
    """A device copy of `host` whose start is 4 bytes past a 16-byte boundary."""
    flat = cp.empty(host.size + 1, cp.float32)
    flat[1:] = cp.asarray(host.ravel())
    return flat[1:].reshape(host.shape)


@pytest.mark.parametrize("adamw", [True, False])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_matches_float64_over_steps(rng, adamw, weight_decay):
    hp = dict(lr=3e-3, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=weight_decay)
    ps = [randn(rng, *s) for s in ADAM_SHAPES]
    ms = [np.zeros(s, np.float32) for s in ADAM_SHAPES]
    vs = [np.zeros(s, np.float32) for s in ADAM_SHAPES]
    # device state; one tensor misaligned so the scalar path runs too
    dp = [cp.asarray(x) for x in ps]
    dp[6] = misaligned(ps[6])
    dm = [cp.asarray(x) for x in ms]
    dv = [cp.asarray(x) for x in vs]
    rp, rm, rv = list(ps), list(ms), list(vs)
    fn = tfc.adamw_step if adamw else tfc.adam_step
    for step in range(1, 6):
        gs = [randn(rng, *s) for s in ADAM_SHAPES]
        fn(dp, [cp.asarray(g) for g in gs], dm, dv, step=step, **hp)
        for i, g in enumerate(gs):
            rp[i], rm[i], rv[i] = adam_ref(rp[i], g, rm[i], rv[i], step=step, adamw=adamw, **hp)
    cp.cuda.Device().synchronize()
    for i, s in enumerate(ADAM_SHAPES):
        if np.prod(s) == 0:
            continue
        np.testing.assert_allclose(cp.asnumpy(dp[i]), rp[i], rtol=2e-6, atol=2e-6, err_msg=f"param {i} {s}")
        np.testing.assert_allclose(cp.asnumpy(dm[i]), rm[i], rtol=1e-5, atol=1e-6, err_msg=f"exp_avg {i} {s}")
        np.testing.assert_allclose(cp.asnumpy(dv[i]), rv[i], rtol=1e-5, atol=1e-7, err_msg=f"exp_avg_sq {i} {s}")


def test_adam_many_tensors_one_launch(rng):
    """More chunks than blocks and more tensors than blocks: the grid-stride walk over the list."""
    shapes = [(int(n),) for n in rng.integers(1, 9000, size=1500)]
    hp = dict(lr=1e-2, beta1=0.8, beta2=0.95, eps=1e-6, weight_decay=0.05)
    ps = [randn(rng, *s) for s in shapes]
    gs = [randn(rng, *s) for s in shapes]
    dp = [cp.asarray(x) for x in ps]
    dm = [cp.zeros(s, cp.float32) for s in shapes]
    dv = [cp.zeros(s, cp.float32) for s in shapes]
    tfc.adamw_step(dp, [cp.asarray(g) for g in gs], dm, dv, step=1, **hp)
    cp.cuda.Device().synchronize()
    for i in range(len(shapes)):
        rp, _, _ = adam_ref(ps[i], gs[i], 0.0, 0.0, step=1, adamw=True, **hp)
        np.testing.assert_allclose(cp.asnumpy(dp[i]), rp, rtol=2e-6, atol=2e-6)


def test_adamw_matches_torch(rng):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    shapes = [(64, 33), (1000,), (7,)]
    hp = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    init = [randn(rng, *s) for s in shapes]
    tparams = [torch.nn.Parameter(torch.from_numpy(x).cuda()) for x in init]
    opt = torch.optim.AdamW(tparams, **hp, foreach=False)
    ours = [torch.from_numpy(x).cuda() for x in init]
    m = [torch.zeros_like(x) for x in ours]
    v = [torch.zeros_like(x) for x in ours]
    for step in range(1, 4):
        grads = [torch.from_numpy(randn(rng, *s)).cuda() for s in shapes]
        for p, g in zip(tparams, grads):
            p.grad = g.clone()
        opt.step()
        tfc.adamw_step(ours, grads, m, v, lr=hp["lr"], beta1=hp["betas"][0], beta2=hp["betas"][1], eps=hp["eps"],
                       weight_decay=hp["weight_decay"], step=step)
    torch.cuda.synchronize()
    for p, q in zip(tparams, ours):
        np.testing.assert_allclose(q.cpu().numpy(), p.detach().cpu().numpy(), rtol=1e-6, atol=1e-6)


def test_adam_rejects_bad_device_inputs(rng):
    p = [cp.asarray(randn(rng, 10))]
    g = [cp.asarray(randn(rng, 10))]
    m = [cp.zeros(10, cp.float32)]
    v = [cp.zeros(10, cp.float32)]
    with pytest.raises(ValueError, match="same length"):
        tfc.adamw_step(p, g + g, m, v, lr=1e-3, step=1)
    with pytest.raises(ValueError, match="has shape"):
        tfc.adamw_step(p, [cp.zeros(11, cp.float32)], m, v, lr=1e-3, step=1)
    with pytest.raises(TypeError, match="float32"):
        tfc.adamw_step(p, [cp.zeros(10, cp.float64)], m, v, lr=1e-3, step=1)
    with pytest.raises(ValueError, match="contiguous"):
        tfc.adamw_step([cp.zeros(20, cp.float32)[::2]], g, m, v, lr=1e-3, step=1)
    with pytest.raises(ValueError, match="step must be >= 1"):
        tfc.adamw_step(p, g, m, v, lr=1e-3, step=0)
    with pytest.raises(ValueError, match="overlaps"):
        tfc.adamw_step(p, g, p, v, lr=1e-3, step=1)
    host = np.zeros(10, np.float32)

    class HostMemory:
        __cuda_array_interface__ = {"shape": (10,), "typestr": "<f4", "strides": None,
                                    "data": (host.ctypes.data, False), "version": 3}

    with pytest.raises(ValueError, match="not in GPU memory"):
        tfc.adamw_step(p, [HostMemory()], m, v, lr=1e-3, step=1)


# ---------------------------------------------------------------------------------------------
# conv2d, pooling, attention (written on a machine without a GPU: checked there only under the
# CPU emulation of tests/test_cuda_emulated_conv_attention.py)

def _torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def conv2d_ref64(x, w, b, stride, padding, dilation, groups):
    """float64 conv2d (cross-correlation) by summing shifted slices; also returns a function for the
    two gradients given dy."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n, c_in, h, wd = x.shape
    c_out, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = np.zeros((n, c_in, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    kg = c_out // groups
    # cols[n, g, c, p, q, i, j]
    cols = np.empty((n, c_in, kh, kw, oh, ow))
    for p in range(kh):
        for q in range(kw):
            cols[:, :, p, q] = xp[:, :, p * dh:p * dh + sh * (oh - 1) + 1:sh, q * dw:q * dw + sw * (ow - 1) + 1:sw]
    y = np.empty((n, c_out, oh, ow))
    for g in range(groups):
        cg_cols = cols[:, g * cg:(g + 1) * cg].reshape(n, cg * kh * kw, oh * ow)
        wg = w[g * kg:(g + 1) * kg].reshape(kg, cg * kh * kw)
        y[:, g * kg:(g + 1) * kg] = np.einsum("ok,nkp->nop", wg, cg_cols).reshape(n, kg, oh, ow)
    if b is not None:
        y += np.asarray(b, np.float64)[None, :, None, None]

    def grads(dy):
        dy = np.asarray(dy, np.float64)
        dw_ = np.empty_like(w)
        dcols = np.empty_like(cols)
        for g in range(groups):
            cg_cols = cols[:, g * cg:(g + 1) * cg].reshape(n, cg * kh * kw, oh * ow)
            dyg = dy[:, g * kg:(g + 1) * kg].reshape(n, kg, oh * ow)
            dw_[g * kg:(g + 1) * kg] = np.einsum("nop,nkp->ok", dyg, cg_cols).reshape(kg, cg, kh, kw)
            wg = w[g * kg:(g + 1) * kg].reshape(kg, cg * kh * kw)
            dcols[:, g * cg:(g + 1) * cg] = np.einsum("ok,nop->nkp", wg, dyg).reshape(n, cg, kh, kw, oh, ow)
        dxp = np.zeros_like(xp)
        for p in range(kh):
            for q in range(kw):
                dxp[:, :, p * dh:p * dh + sh * (oh - 1) + 1:sh, q * dw:q * dw + sw * (ow - 1) + 1:sw] += dcols[:, :, p, q]
        return dxp[:, :, ph:ph + h, pw:pw + wd], dw_

    return y, grads


CONV_CASES = [
    # n, c_in, h, w, c_out, k, stride, padding, dilation, groups
    (1, 1, 1, 1, 1, (1, 1), (1, 1), (0, 0), (1, 1), 1),
    (2, 3, 7, 9, 5, (3, 3), (1, 1), (1, 1), (1, 1), 1),
    (3, 6, 9, 7, 4, (3, 2), (2, 1), (1, 0), (2, 1), 2),
    (2, 8, 13, 11, 8, (3, 3), (1, 1), (1, 1), (1, 1), 8),
    (4, 64, 14, 14, 128, (3, 3), (2, 2), (1, 1), (1, 1), 1),
    (2, 127, 9, 9, 33, (1, 1), (1, 1), (0, 0), (1, 1), 1),
    (8, 32, 28, 28, 64, (5, 5), (1, 1), (2, 2), (1, 1), 1),
]


@pytest.mark.parametrize("n,c_in,h,w,c_out,k,stride,padding,dilation,groups", CONV_CASES)
def test_conv2d_matches_float64(rng, n, c_in, h, w, c_out, k, stride, padding, dilation, groups):
    xh = randn(rng, n, c_in, h, w)
    wh = randn(rng, c_out, c_in // groups, *k)
    bh = randn(rng, c_out)
    ref, grads = conv2d_ref64(xh, wh, bh, stride, padding, dilation, groups)
    x, wt, b = cp.asarray(xh), cp.asarray(wh), cp.asarray(bh)
    y = poisoned(ref.shape)
    tfc.conv2d_forward(x, wt, b, stride, padding, dilation, groups, out=y)
    assert rel_err(cp.asnumpy(y), ref) < 1e-5
    dyh = randn(rng, *ref.shape)
    rdx, rdw = grads(dyh)
    dx = poisoned(xh.shape)
    dw = poisoned(wh.shape)
    tfc.conv2d_grad_input(cp.asarray(dyh), wt, xh.shape, stride, padding, dilation, groups, out=dx)
    tfc.conv2d_grad_weight(x, cp.asarray(dyh), wh.shape, stride, padding, dilation, groups, out=dw)
    assert rel_err(cp.asnumpy(dx), rdx) < 1e-5
    assert rel_err(cp.asnumpy(dw), rdw) < 1e-5


@pytest.mark.parametrize("n,c_in,h,w,c_out,k,stride,padding,dilation,groups", CONV_CASES[1:5])
def test_conv2d_matches_torch_cuda(rng, n, c_in, h, w, c_out, k, stride, padding, dilation, groups):
    torch = _torch_cuda()
    if torch is None:
        pytest.skip("torch with CUDA not installed")
    x = torch.randn(n, c_in, h, w, device="cuda", dtype=torch.float64, requires_grad=True)
    wt = torch.randn(c_out, c_in // groups, *k, device="cuda", dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.conv2d(x, wt, None, stride, padding, dilation, groups)
    dy = torch.randn_like(y)
    y.backward(dy)
    x32, w32, dy32 = x.detach().float(), wt.detach().float(), dy.float()
    ours = tfc.conv2d_forward(x32, w32, None, stride, padding, dilation, groups)
    dx = tfc.conv2d_grad_input(dy32, w32, x.shape, stride, padding, dilation, groups)
    dw = tfc.conv2d_grad_weight(x32, dy32, wt.shape, stride, padding, dilation, groups)
    torch.cuda.synchronize()
    assert rel_err(ours.cpu().numpy(), y.detach().cpu().numpy()) < 1e-5
    assert rel_err(dx.cpu().numpy(), x.grad.cpu().numpy()) < 1e-5
    assert rel_err(dw.cpu().numpy(), wt.grad.cpu().numpy()) < 1e-5


def pool_ref64(x, k, s, p, d, ceil_mode, mode, count_include_pad=True, divisor=None):
    """float64 max / avg pooling by loops over the (small) output; max also returns indices."""
    x = np.asarray(x, np.float64)
    n, c, h, w = x.shape

    def osz(size, kk, ss, pp, dd):
        span = size + 2 * pp - dd * (kk - 1) - 1
        o = (-(-span // ss) if ceil_mode else span // ss) + 1
        return o - 1 if ceil_mode and (o - 1) * ss >= size + pp else o

    oh, ow = osz(h, k[0], s[0], p[0], d[0]), osz(w, k[1], s[1], p[1], d[1])
    y = np.empty((n, c, oh, ow))
    idx = np.empty((n, c, oh, ow), np.int64)
    for i in range(oh):
        for j in range(ow):
            if mode == "max":
                rows = [i * s[0] - p[0] + a * d[0] for a in range(k[0])]
                cols = [j * s[1] - p[1] + b * d[1] for b in range(k[1])]
                taps = [(r, q) for r in rows for q in cols if 0 <= r < h and 0 <= q < w]
                vals = np.stack([x[:, :, r, q] for r, q in taps], -1)
                best = vals.argmax(-1)
                y[:, :, i, j] = np.take_along_axis(vals, best[..., None], -1)[..., 0]
                flat = np.array([r * w + q for r, q in taps])
                idx[:, :, i, j] = flat[best]
            else:
                h0, w0 = i * s[0] - p[0], j * s[1] - p[1]
                h1, w1 = min(h0 + k[0], h + p[0]), min(w0 + k[1], w + p[1])
                padded = (h1 - h0) * (w1 - w0)
                h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
                div = divisor or (padded if count_include_pad else (h1 - h0) * (w1 - w0))
                y[:, :, i, j] = x[:, :, h0:h1, w0:w1].sum((2, 3)) / div
    return y, idx


@pytest.mark.parametrize("shape,k,s,p,d,ceil_mode", [
    ((2, 3, 7, 9), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((1, 4, 9, 8), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((2, 2, 11, 10), (3, 2), (2, 1), (1, 1), (2, 1), False),
    ((8, 64, 56, 56), (3, 3), (2, 2), (1, 1), (1, 1), False),
])
def test_max_pool2d_matches_float64(rng, shape, k, s, p, d, ceil_mode):
    xh = randn(rng, *shape)
    ref, ridx = pool_ref64(xh, k, s, p, d, ceil_mode, "max")
    y, idx = tfc.max_pool2d_forward(cp.asarray(xh), k, s, p, d, ceil_mode)
    assert rel_err(cp.asnumpy(y), ref) == 0
    assert (cp.asnumpy(idx) == ridx).all()
    dyh = randn(rng, *ref.shape)
    rdx = np.zeros(xh.shape)
    n, c = shape[:2]
    flat = rdx.reshape(n, c, -1)
    for a in range(n):
        for b in range(c):
            np.add.at(flat[a, b], ridx[a, b].ravel(), dyh[a, b].ravel())
    dx = tfc.max_pool2d_backward(cp.asarray(dyh), idx, shape, k, s, p, d)
    assert rel_err(cp.asnumpy(dx), rdx) < 1e-6


@pytest.mark.parametrize("shape,k,s,p,ceil_mode,include_pad,divisor", [
    ((2, 3, 7, 9), (2, 2), (2, 2), (0, 0), False, True, None),
    ((1, 4, 9, 8), (3, 3), (2, 2), (1, 1), True, False, None),
    ((2, 2, 10, 11), (3, 2), (1, 2), (1, 0), False, True, 5),
])
def test_avg_pool2d_matches_float64(rng, shape, k, s, p, ceil_mode, include_pad, divisor):
    xh = randn(rng, *shape)
    ref, _ = pool_ref64(xh, k, s, p, (1, 1), ceil_mode, "avg", include_pad, divisor)
    y = tfc.avg_pool2d_forward(cp.asarray(xh), k, s, p, ceil_mode, include_pad, divisor)
    assert rel_err(cp.asnumpy(y), ref) < 1e-6
    torch = _torch_cuda()
    if torch is not None:
        xt = torch.from_numpy(xh).double().cuda().requires_grad_(True)
        yt = torch.nn.functional.avg_pool2d(xt, k, s, p, ceil_mode, include_pad, divisor)
        dy = torch.randn_like(yt)
        yt.backward(dy)
        dx = tfc.avg_pool2d_backward(dy.float(), shape, k, s, p, include_pad, divisor)
        torch.cuda.synchronize()
        assert rel_err(dx.cpu().numpy(), xt.grad.cpu().numpy()) < 1e-6


def attention_ref64(q, k, v, mask, causal, scale, dout):
    """float64 attention with its gradients; fully masked rows give zeros (our convention)."""
    q, k, v, dout = (np.asarray(t, np.float64) for t in (q, k, v, dout))
    s = np.einsum("bhle,bhse->bhls", q, k) * scale
    L, S = s.shape[-2:]
    allowed = np.ones(s.shape, bool)
    if causal:
        allowed &= np.tril(np.ones((L, S), bool))
    if mask is not None:
        if mask.dtype == np.bool_:
            allowed &= np.broadcast_to(mask, s.shape)
        else:
            s = s + np.broadcast_to(mask, s.shape)
            allowed &= np.isfinite(np.broadcast_to(mask, s.shape))
    s = np.where(allowed, s, -np.inf)
    m = s.max(-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.where(allowed, np.exp(s - m), 0.0)
    z = e.sum(-1, keepdims=True)
    p = np.where(z > 0, e / np.where(z > 0, z, 1), 0.0)
    o = p @ v
    lse = np.where(z[..., 0] > 0, m[..., 0] + np.log(np.where(z[..., 0] > 0, z[..., 0], 1)), -np.inf)
    dv = np.einsum("bhls,bhle->bhse", p, dout)
    dp = np.einsum("bhle,bhse->bhls", dout, v)
    ds = p * (dp - (dout * o).sum(-1, keepdims=True))
    dq = np.einsum("bhls,bhse->bhle", ds, k) * scale
    dk = np.einsum("bhls,bhle->bhse", ds, q) * scale
    return o, lse, dq, dk, dv


@pytest.mark.parametrize("b,h,l,s,e,causal,mask_kind", [
    (1, 1, 1, 1, 8, False, None),
    (2, 3, 37, 45, 20, False, None),
    (1, 2, 70, 33, 40, True, "float"),
    (2, 1, 19, 50, 100, False, "bool"),
    (1, 2, 129, 129, 128, True, None),
    (2, 4, 256, 200, 64, False, "float"),
    (1, 2, 300, 300, 64, True, "bool"),
])
def test_attention_matches_float64(rng, b, h, l, s, e, causal, mask_kind):
    qh, kh, vh, doh = (randn(rng, b, h, n, e) for n in (l, s, s, l))
    mask = None
    if mask_kind == "float":
        mask = randn(rng, b, 1, l, s)
        mask[rng.random(mask.shape) < 0.1] = -np.inf
    elif mask_kind == "bool":
        mask = rng.random((l, s)) < 0.7
        if l > 3:
            mask[2] = False  # a query that sees nothing
    scale = 1.0 / np.sqrt(e)
    ro, rlse, rdq, rdk, rdv = attention_ref64(qh, kh, vh, mask, causal, scale, doh)
    q, k, v, do = (cp.asarray(t) for t in (qh, kh, vh, doh))
    dmask = None if mask is None else cp.asarray(mask)
    o, lse = tfc.attention_forward(q, k, v, dmask, causal)
    assert rel_err(cp.asnumpy(o), ro) < 1e-5
    got_lse = cp.asnumpy(lse)
    fin = np.isfinite(rlse)
    assert (np.isfinite(got_lse) == fin).all()
    assert rel_err(got_lse[fin], rlse[fin]) < 1e-6
    dq, dk, dv = tfc.attention_backward(do, q, k, v, o, lse, dmask, causal)
    assert rel_err(cp.asnumpy(dq), rdq) < 1e-5
    assert rel_err(cp.asnumpy(dk), rdk) < 1e-5
    assert rel_err(cp.asnumpy(dv), rdv) < 1e-5


def test_attention_strided_blhe_views(rng):
    b, l, h, e = 2, 77, 3, 64
    qh, kh, vh = (randn(rng, b, l, h, e) for _ in range(3))
    q, k, v = (cp.asarray(t).transpose(0, 2, 1, 3) for t in (qh, kh, vh))  # (B, H, L, E) views
    ro, _, _, _, _ = attention_ref64(*(t.transpose(0, 2, 1, 3) for t in (qh, kh, vh)), None, True, 1 / np.sqrt(e),
                                     np.zeros((b, h, l, e), np.float32))
    o, _ = tfc.attention_forward(q, k, v, None, True)
    assert rel_err(cp.asnumpy(o), ro) < 1e-5


def test_attention_matches_torch_sdpa(rng):
    torch = _torch_cuda()
    if torch is None:
        pytest.skip("torch with CUDA not installed")
    b, h, l, s, e = 2, 4, 200, 333, 64
    q = torch.randn(b, h, l, e, device="cuda", dtype=torch.float64, requires_grad=True)
    k = torch.randn(b, h, s, e, device="cuda", dtype=torch.float64, requires_grad=True)
    v = torch.randn(b, h, s, e, device="cuda", dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    dy = torch.randn_like(y)
    y.backward(dy)
    q32, k32, v32 = (t.detach().float() for t in (q, k, v))
    o, lse = tfc.attention_forward(q32, k32, v32, None, True)
    dq, dk, dv = tfc.attention_backward(dy.float(), q32, k32, v32, o, lse, None, True)
    torch.cuda.synchronize()
    assert rel_err(o.cpu().numpy(), y.detach().cpu().numpy()) < 1e-5
    for ours, ref in ((dq, q.grad), (dk, k.grad), (dv, v.grad)):
        assert rel_err(ours.cpu().numpy(), ref.cpu().numpy()) < 1e-5


def round_sig(x, bits, ties_away):
    """x rounded to `bits` significant bits with frexp / ldexp: tf32 (11, ties away), bf16 (8, to even)."""
    m, ex = np.frexp(np.asarray(x, np.float64))
    y = np.ldexp(m, bits)
    return np.ldexp(np.sign(y) * np.floor(np.abs(y) + 0.5) if ties_away else np.rint(y), ex - bits)


TC_PRECISIONS = {"high": (11, True, 1e-3, 4e-3), "medium": (8, False, 8e-3, 2.5e-2)}  # bits, ties, tol o, tol grads


@pytest.mark.parametrize("precision", ["high", "medium"])
@pytest.mark.parametrize("b,h,l,s,e,causal,mask_kind", [
    (1, 1, 1, 7, 64, False, None),
    (2, 3, 130, 130, 64, False, None),
    (1, 2, 70, 33, 64, True, "float"),
    (1, 2, 33, 130, 32, True, None),
    (2, 1, 19, 50, 40, False, "bool"),
    (2, 4, 256, 200, 64, True, "float"),
    (1, 2, 300, 517, 128, False, "bool"),
])
def test_attention_tensor_cores_match_float64_on_rounded_inputs(rng, precision, b, h, l, s, e, causal, mask_kind):
    """precision "high" / "medium": tf32 / bf16 products on the tensor cores (attention_tc_*.cu) against
    float64 on the same rounded operands; e = 128 at "high" is the fp32 kernel (exact to 1e-5)."""
    bits, ties, tol_o, tol_g = TC_PRECISIONS[precision]
    covered = e <= (64 if precision == "high" else 128)
    if not covered:
        tol_o = tol_g = 1e-5
    qh, kh, vh, doh = (randn(rng, b, h, n, e) for n in (l, s, s, l))
    mask = None
    if mask_kind == "float":
        mask = randn(rng, b, 1, l, s)
        mask[rng.random(mask.shape) < 0.1] = -np.inf
    elif mask_kind == "bool":
        mask = rng.random((l, s)) < 0.7
        if l > 3:
            mask[2] = False  # a query that sees nothing
    rnd = (lambda x: round_sig(x, bits, ties)) if covered else (lambda x: x)
    ro, rlse, rdq, rdk, rdv = attention_ref64(rnd(qh), rnd(kh), rnd(vh), mask, causal, 1.0 / np.sqrt(e), rnd(doh))
    q, k, v, do = (cp.asarray(t) for t in (qh, kh, vh, doh))
    dmask = None if mask is None else cp.asarray(mask)
    o, lse = tfc.attention_forward(q, k, v, dmask, causal, precision=precision)
    assert rel_err(cp.asnumpy(o), ro) < tol_o
    got_lse = cp.asnumpy(lse)
    fin = np.isfinite(rlse)
    assert (np.isfinite(got_lse) == fin).all()
    assert rel_err(got_lse[fin], rlse[fin]) < 1e-5
    dq, dk, dv = tfc.attention_backward(do, q, k, v, o, lse, dmask, causal, precision=precision)
    assert rel_err(cp.asnumpy(dq), rdq) < tol_g
    assert rel_err(cp.asnumpy(dk), rdk) < tol_g
    assert rel_err(cp.asnumpy(dv), rdv) < tol_g


@pytest.mark.parametrize("precision", ["high", "medium"])
def test_attention_tensor_cores_match_torch_sdpa(rng, precision):
    """Ours at "medium" vs torch's SDPA on bf16 tensors (its flash path where available), ours at "high"
    vs torch's SDPA in fp32; forward and gradients, causal, L != S."""
    torch = _torch_cuda()
    if torch is None:
        pytest.skip("torch with CUDA not installed")
    b, h, l, s, e = 2, 4, 200, 333, 64
    dtype = torch.bfloat16 if precision == "medium" else torch.float32
    q, k, v = (torch.randn(b, h, n, e, device="cuda") for n in (l, s, s))
    dy = torch.randn(b, h, l, e, device="cuda")
    qp, kp, vp = (t.to(dtype).requires_grad_(True) for t in (q, k, v))
    y = torch.nn.functional.scaled_dot_product_attention(qp, kp, vp, is_causal=True)
    y.backward(dy.to(dtype))
    o, lse = tfc.attention_forward(q, k, v, None, True, precision=precision)
    dq, dk, dv = tfc.attention_backward(dy, q, k, v, o, lse, None, True, precision=precision)
    torch.cuda.synchronize()
    tol = 3e-2 if precision == "medium" else 5e-3
    assert rel_err(o.cpu().numpy(), y.detach().float().cpu().numpy()) < tol
    for ours, ref in ((dq, qp.grad), (dk, kp.grad), (dv, vp.grad)):
        assert rel_err(ours.cpu().numpy(), ref.float().cpu().numpy()) < tol


def test_attention_tensor_cores_on_a_side_stream(rng):
    """The backward's workspace is allocated in the order of the stream the kernels run on."""
    qh, kh, vh, doh = (randn(rng, 2, 2, 90, 64) for _ in range(4))
    ro, _, rdq, rdk, rdv = attention_ref64(*(round_sig(t, 8, False) for t in (qh, kh, vh)), None, True,
                                           1 / 8, round_sig(doh, 8, False))
    side = cp.cuda.Stream(non_blocking=True)
    q, k, v, do = (cp.asarray(t) for t in (qh, kh, vh, doh))
    cp.cuda.Device().synchronize()
    o, lse = tfc.attention_forward(q, k, v, None, True, precision="medium", stream=side)
    dq, dk, dv = tfc.attention_backward(do, q, k, v, o, lse, None, True, precision="medium", stream=side)
    side.synchronize()
    assert rel_err(cp.asnumpy(o), ro) < 8e-3
    for got, ref in ((dq, rdq), (dk, rdk), (dv, rdv)):
        assert rel_err(cp.asnumpy(got), ref) < 2.5e-2


def test_attention_precision_is_checked():
    q = cp.zeros((1, 1, 4, 8), cp.float32)
    with pytest.raises(ValueError, match="precision"):
        tfc.attention_forward(q, q, q, precision="low")


# ---- LayerNorm and GELU ----------------------------------------------------------------------------

def layer_norm_ref(x, w, b, eps):
    x = np.asarray(x, np.float64)
    mean = x.mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + eps)
    y = (x - mean) * rstd
    if w is not None:
        y = y * w + b
    return y, mean[..., 0], rstd[..., 0]


@pytest.mark.parametrize("rows,cols", [(1, 1), (7, 33), (13, 768), (1000, 1023), (4096, 64)])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_float64(rng, rows, cols, affine):
    xh = (3.0 + 2.0 * rng.standard_normal((rows, cols))).astype(np.float32)
    wh, bh = (randn(rng, cols) + 1, randn(rng, cols)) if affine else (None, None)
    dyh = randn(rng, rows, cols)
    x = cp.asarray(xh)
    w, b = (cp.asarray(wh), cp.asarray(bh)) if affine else (None, None)
    y, mean, rstd = tfc.layer_norm_forward(x, cols, w, b, eps=1e-5)
    y_ref, mean_ref, rstd_ref = layer_norm_ref(xh, wh, bh, 1e-5)
    assert rel_err(cp.asnumpy(y), y_ref) < 1e-5
    assert rel_err(cp.asnumpy(mean), mean_ref) < 1e-5 and rel_err(cp.asnumpy(rstd), rstd_ref) < 1e-5
    dx, dw, db = tfc.layer_norm_backward(cp.asarray(dyh), x, cols, mean, rstd, w)
    # float64 backward by the closed form
    xhat = (xh - mean_ref[:, None]) * rstd_ref[:, None]
    g = dyh * (wh if affine else 1.0)
    dx_ref = rstd_ref[:, None] * (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True))
    assert rel_err(cp.asnumpy(dx), dx_ref) < 1e-5
    assert rel_err(cp.asnumpy(dw), (dyh * xhat).sum(0)) < 1e-5
    assert rel_err(cp.asnumpy(db), dyh.astype(np.float64).sum(0)) < 1e-5
    dx_only = tfc.layer_norm_backward(cp.asarray(dyh), x, cols, mean, rstd, w, need_weight_grad=False,
                                      need_bias_grad=False)
    assert dx_only[1] is None and dx_only[2] is None and rel_err(cp.asnumpy(dx_only[0]), dx_ref) < 1e-5


def test_layer_norm_matches_torch(rng):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    xh, wh, bh, dyh = randn(rng, 64, 384), randn(rng, 384), randn(rng, 384), randn(rng, 64, 384)
    xt = torch.from_numpy(xh).cuda().requires_grad_()
    wt = torch.from_numpy(wh).cuda().requires_grad_()
    bt = torch.from_numpy(bh).cuda().requires_grad_()
    yt = torch.nn.functional.layer_norm(xt, (384,), wt, bt)
    yt.backward(torch.from_numpy(dyh).cuda())
    x, w, b = cp.asarray(xh), cp.asarray(wh), cp.asarray(bh)
    y, mean, rstd = tfc.layer_norm_forward(x, 384, w, b)
    dx, dw, db = tfc.layer_norm_backward(cp.asarray(dyh), x, 384, mean, rstd, w)
    for ours, theirs in [(y, yt), (dx, xt.grad), (dw, wt.grad), (db, bt.grad)]:
        assert rel_err(cp.asnumpy(ours), theirs.detach().cpu().numpy()) < 1e-5


@pytest.mark.parametrize("n", [1, 7, 1023, 1 << 20])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_float64(rng, n, approximate):
    from math import erf, pi, sqrt
    xh, dyh = 3 * randn(rng, n), randn(rng, n)
    y = tfc.gelu_forward(cp.asarray(xh), approximate)
    dx = tfc.gelu_backward(cp.asarray(dyh), cp.asarray(xh), approximate)
    x = xh.astype(np.float64)
    if approximate == "tanh":
        t = np.tanh(sqrt(2 / pi) * (x + 0.044715 * x ** 3))
        y_ref = 0.5 * x * (1 + t)
        slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * sqrt(2 / pi) * (1 + 3 * 0.044715 * x * x)
    else:
        cdf = 0.5 * (1 + np.vectorize(erf)(x / sqrt(2)))
        y_ref = x * cdf
        slope = cdf + x * np.exp(-0.5 * x * x) / sqrt(2 * pi)
    assert rel_err(cp.asnumpy(y), y_ref) < 1e-6
    assert rel_err(cp.asnumpy(dx), slope * dyh) < 1e-6


# ---- softmax / log-softmax and fused cross-entropy -----------------------------------------------------

@pytest.fixture
def poison_empty(monkeypatch):
    """cupy.empty hands out NaN-filled float arrays (integer ones filled with 12345), so every output that
    the tensorforge.cuda wrappers allocate starts poisoned and an unwritten element shows."""
    real = cp.empty

    def empty(shape, dtype=float, order="C"):
        a = real(shape, dtype=dtype, order=order)
        a.fill(np.nan if np.dtype(dtype).kind == "f" else 12345)
        return a

    monkeypatch.setattr(cp, "empty", empty)


def logit_rows(rng, rows, cols, special):
    """3 * N(0, 1) logits; with `special`, rows cycle through normal, +1e4, some -inf (column 0 stays
    finite), all -inf and one +inf."""
    x = 3 * randn(rng, rows, cols)
    if special:
        x[1::5] += 1e4
        x[2::5, 1::3] = -np.inf
        x[3::5] = -np.inf
        x[4::5, cols // 2] = np.inf
    return x


def assert_matches(got, ref, tol, what):
    """NaN and inf where the reference has them, a norm-wise relative error below tol elsewhere."""
    got = np.asarray(got, np.float64)
    nan, inf = np.isnan(ref), np.isinf(ref)
    assert np.array_equal(np.isnan(got), nan), f"{what}: NaN pattern differs"
    assert np.array_equal(got[inf], ref[inf]), f"{what}: inf entries differ"
    fin = ~(nan | inf)
    assert rel_err(got[fin], ref[fin]) < tol, f"{what}: rel err {rel_err(got[fin], ref[fin]):.2e}"


def softmax_ref(x, log):
    x = x.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        m = x.max(-1, keepdims=True)
        s = np.exp(x - m).sum(-1, keepdims=True)
        y = (x - m) - np.log(s) if log else np.exp(x - m) / s
    bad = np.isinf(m[:, 0]) | np.isnan(m[:, 0])  # a row of -inf, or with +inf: NaN (PyTorch too)
    y[bad] = np.nan
    return y


SOFTMAX_SHAPES = [(1, 1), (13, 7), (9, 33), (5, 1000), (3, 1025), (64, 50257), (65536, 10)]


@pytest.mark.parametrize("rows,cols", SOFTMAX_SHAPES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_matches_float64(rng, poison_empty, rows, cols, log):
    xh = logit_rows(rng, rows, cols, special=rows >= 5)
    dyh = randn(rng, rows, cols)
    y = tfc.softmax_forward(cp.asarray(xh), log)
    assert_matches(cp.asnumpy(y), softmax_ref(xh, log), 1e-6, "y")
    # the backward from the kernel's own y, referenced in float64 from that y
    yk = cp.asnumpy(y).astype(np.float64)
    dx = tfc.softmax_backward(cp.asarray(dyh), y, log)
    with np.errstate(invalid="ignore", over="ignore"):
        dx_ref = (dyh - np.exp(yk) * dyh.sum(-1, keepdims=True) if log
                  else yk * (dyh - (dyh * yk).sum(-1, keepdims=True)))
    assert_matches(cp.asnumpy(dx), dx_ref, 1e-6, "dx")


def test_softmax_of_batched_shapes_runs_over_the_last_dim(rng, poison_empty):
    xh = randn(rng, 2, 3, 4, 37)
    y = tfc.softmax_forward(cp.asarray(xh), True)
    assert y.shape == xh.shape
    assert_matches(cp.asnumpy(y), softmax_ref(xh.reshape(-1, 37), True).reshape(xh.shape), 1e-6, "y")


def _torch_or_skip():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    return torch


@pytest.mark.parametrize("rows,cols", [(64, 50257), (65536, 10), (37, 1024)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_matches_torch(rng, rows, cols, log):
    torch = _torch_or_skip()
    xh, dyh = 3 * randn(rng, rows, cols), randn(rng, rows, cols)
    xt = torch.from_numpy(xh).cuda().requires_grad_()
    yt = torch.log_softmax(xt, -1) if log else torch.softmax(xt, -1)
    yt.backward(torch.from_numpy(dyh).cuda())
    y = tfc.softmax_forward(cp.asarray(xh), log)
    dx = tfc.softmax_backward(cp.asarray(dyh), y, log)
    assert rel_err(cp.asnumpy(y), yt.detach().cpu().numpy()) < 1e-5
    assert rel_err(cp.asnumpy(dx), xt.grad.cpu().numpy()) < 1e-5


def cross_entropy_ref(x, t, w, ignore_index, smoothing, g):
    """Per-row loss, lse, row weight and the logits' gradient for per-row grad g, in float64 (PyTorch's
    semantics: loss = (1 - e) w_t (lse - x_t) + e / C sum_c w_c (lse - x_c), ignored rows 0)."""
    x = x.astype(np.float64)
    n, c = x.shape
    w = np.ones(c) if w is None else w.astype(np.float64)
    live = t != ignore_index
    tt = np.where(live, t, 0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        m = x.max(1, keepdims=True)
        lse = m + np.log(np.exp(x - m).sum(1, keepdims=True))
        coef = smoothing / c * np.broadcast_to(w, (n, c)).copy()
        coef[np.arange(n), tt] += (1 - smoothing) * w[tt]
        loss = (coef * (lse - x)).sum(1)
        dx = g.reshape(-1, 1) * (np.exp(x - lse) * coef.sum(1, keepdims=True) - coef)
    loss[~live], dx[~live] = 0.0, 0.0
    return loss, lse[:, 0], np.where(live, w[tt], 0.0), dx


CE_SHAPES = [(1, 1), (13, 7), (9, 33), (70, 1000), (5, 1025), (16, 50257), (65536, 10)]


@pytest.mark.parametrize("rows,classes", CE_SHAPES)
@pytest.mark.parametrize("weighted,smoothing", [(False, 0.0), (True, 0.0), (False, 0.1), (True, 0.25)])
def test_cross_entropy_matches_float64(rng, poison_empty, rows, classes, weighted, smoothing):
    xh = logit_rows(rng, rows, classes, special=False)
    if rows > 2:
        xh[1] += 1e4  # large logits: the saved (max, log-normaliser) pair keeps the backward accurate
    th = rng.integers(0, classes, rows)
    th[::4] = -100  # ignored rows, including the first
    wh = rng.uniform(0.2, 2.0, classes).astype(np.float32) if weighted else None
    gh = randn(rng, rows)
    x, t = cp.asarray(xh), cp.asarray(th)
    w = None if wh is None else cp.asarray(wh)
    loss, stats, row_w = tfc.cross_entropy_forward(x, t, w, -100, smoothing)
    loss_ref, lse_ref, roww_ref, dx_ref = cross_entropy_ref(xh, th, wh, -100, smoothing, gh)
    live = th != -100
    assert_matches(cp.asnumpy(loss), loss_ref, 1e-6, "loss")
    assert_matches(cp.asnumpy(row_w), roww_ref, 1e-7, "row_weight")
    lse = cp.asnumpy(stats).astype(np.float64).sum(1)
    assert_matches(lse[live], lse_ref[live], 1e-6, "lse")
    dx = tfc.cross_entropy_backward(cp.asarray(gh), x, t, stats, w, -100, smoothing)
    assert_matches(cp.asnumpy(dx), dx_ref, 1e-6, "dx")
    g0 = cp.asarray(np.float32(0.37))  # 0-d: one value for every row ('sum' / 'mean')
    dx0 = tfc.cross_entropy_backward(g0, x, t, stats, w, -100, smoothing)
    assert_matches(cp.asnumpy(dx0), cross_entropy_ref(xh, th, wh, -100, smoothing, np.full(rows, 0.37))[3], 1e-6,
                   "dx (broadcast grad)")


def test_softmax_cross_entropy_tail_rows(rng, poison_empty):
    """Small cases of both launch shapes with rows that leave warps idle (also run under memcheck)."""
    for rows, cols in ((3, 7), (2, 1500)):
        xh = randn(rng, rows, cols)
        for log in (False, True):
            assert_matches(cp.asnumpy(tfc.softmax_forward(cp.asarray(xh), log)), softmax_ref(xh, log), 1e-6, "y")
        th = np.array([0, -100, cols - 1][:rows])
        loss, stats, _ = tfc.cross_entropy_forward(cp.asarray(xh), cp.asarray(th), None, -100, 0.1)
        gh = randn(rng, rows)
        ref = cross_entropy_ref(xh, th, None, -100, 0.1, gh)
        assert_matches(cp.asnumpy(loss), ref[0], 1e-6, "loss")
        dx = tfc.cross_entropy_backward(cp.asarray(gh), cp.asarray(xh), cp.asarray(th), stats, None, -100, 0.1)
        assert_matches(cp.asnumpy(dx), ref[3], 1e-6, "dx")


def test_cross_entropy_out_of_range_targets(rng, poison_empty):
    xh = randn(rng, 6, 9)
    th = np.array([1, 9, 2, -3, 0, 8])
    with pytest.raises(IndexError, match=r"target 9 is out of bounds for 9 classes \(row 1"):
        tfc.cross_entropy_forward(cp.asarray(xh), cp.asarray(th))
    loss, stats, row_w = tfc.cross_entropy_forward(cp.asarray(xh), cp.asarray(th), check_targets=False)
    bad = np.array([False, True, False, True, False, False])
    assert np.isnan(cp.asnumpy(loss)[bad]).all() and np.isfinite(cp.asnumpy(loss)[~bad]).all()
    assert (cp.asnumpy(row_w)[bad] == 0).all()
    dx = tfc.cross_entropy_backward(cp.asarray(randn(rng, 6)), cp.asarray(xh), cp.asarray(th), stats)
    assert np.isnan(cp.asnumpy(dx)[bad]).all() and np.isfinite(cp.asnumpy(dx)[~bad]).all()


def test_cross_entropy_every_row_ignored(rng, poison_empty):
    xh, th = randn(rng, 5, 1100), np.full(5, 7)
    loss, stats, row_w = tfc.cross_entropy_forward(cp.asarray(xh), cp.asarray(th), None, 7, 0.2)
    assert not cp.asnumpy(loss).any() and not cp.asnumpy(row_w).any()
    dx = tfc.cross_entropy_backward(cp.asarray(np.float32(np.inf)), cp.asarray(xh), cp.asarray(th), stats, None, 7,
                                    0.2)  # 'mean' over nothing: grad / 0; ignored rows still get zeros
    assert not cp.asnumpy(dx).any()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("classes", [10, 50257])
def test_cross_entropy_through_functional_matches_torch(rng, reduction, classes):
    """F.cross_entropy on tensorforge "cuda" tensors (our kernel plus the Python reduction) against torch."""
    torch = _torch_or_skip()
    import tensorforge as tf
    import tensorforge.nn.functional as F

    rows = 64
    xh, th = 3 * randn(rng, rows, classes), rng.integers(0, classes, rows)
    th[5::7] = -100
    wh = rng.uniform(0.5, 2.0, classes).astype(np.float32)
    x = tf.tensor(xh, device="cuda").requires_grad_()
    loss = F.cross_entropy(x, tf.tensor(th, device="cuda"), weight=tf.tensor(wh, device="cuda"),
                           reduction=reduction, label_smoothing=0.1)
    gh = np.asarray(randn(rng, *loss.shape))
    loss.backward(tf.tensor(gh, device="cuda"))
    xt = torch.from_numpy(xh).cuda().requires_grad_()
    lt = torch.nn.functional.cross_entropy(xt, torch.from_numpy(th).cuda(), weight=torch.from_numpy(wh).cuda(),
                                           reduction=reduction, label_smoothing=0.1)
    lt.backward(torch.from_numpy(gh).cuda())
    assert rel_err(loss.detach().cpu().numpy(), lt.detach().cpu().numpy()) < 1e-5
    assert rel_err(x.grad.cpu().numpy(), xt.grad.cpu().numpy()) < 1e-5
