"""Our CPU GEMM (tensorforge._C.gemm) against a float64 numpy reference.

Every case runs on every SIMD path this CPU can execute and on 1 and 2 threads; outputs are
poisoned with NaN (beta == 0, which must never read C) or filled with random values (beta != 0).
"""
import itertools

import numpy as np
import pytest

import tensorforge
from tensorforge import _C

from isa_threads import ISAS, isa, threads  # noqa: F401 - fixtures


def operand(rng, rows, cols, dtype, transposed, pad=0):
    """A rows x cols operand, stored transposed (a .T view) and/or with a wider leading dimension."""
    shape = (cols, rows + pad) if transposed else (rows, cols + pad)
    base = rng.standard_normal(shape).astype(dtype)
    view = base[:, :rows] if transposed else base[:, :cols]
    return view.T if transposed else view


def check(rng, m, n, k, dtype=np.float32, ta=False, tb=False, alpha=1.0, beta=0.0, pad=0):
    a = operand(rng, m, k, dtype, ta, pad)
    b = operand(rng, k, n, dtype, tb, pad)
    out = np.full((m, n), np.nan, dtype) if beta == 0 else rng.standard_normal((m, n)).astype(dtype)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ref = alpha * (a64 @ b64)
    # The error is measured against the scale summation errors grow with, |alpha| |a| @ |b| + |beta C|:
    # a cancelling product (a small result from large terms) must not read as a large relative error.
    scale = abs(alpha) * (np.abs(a64) @ np.abs(b64))
    if beta != 0:
        ref += beta * out.astype(np.float64)
        scale += abs(beta) * np.abs(out.astype(np.float64))
    _C.gemm(a, b, out, alpha=alpha, beta=beta)
    assert np.all(np.isfinite(out)), "NaN from the poisoned output leaked through"
    err = np.linalg.norm(out - ref) / max(np.linalg.norm(scale), 1e-30)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert err < tol, f"m={m} n={n} k={k} ta={ta} tb={tb}: error {err:.2e} of the |a| @ |b| scale"


ODD = [1, 7, 33, 127, 1000, 1023]
SIZE_CASES = sorted(set(
    [(m, n, k) for m, n, k in itertools.product(ODD, ODD, ODD) if m * n * k <= 40_000_000][::7]
    + [(s, s, s) for s in (1, 7, 33, 64, 127, 256, 512)]
    + [(32, 128, 784), (64, 128, 784), (256, 128, 784), (256, 10, 128), (128, 512, 512)]
    + [(4096, 3, 5), (3, 4096, 7), (5, 7, 4096), (1, 1000, 1000), (1000, 1, 1000)]
))


@pytest.mark.parametrize("m,n,k", SIZE_CASES)
def test_sizes(rng, isa, threads, m, n, k):
    check(rng, m, n, k)


@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (7, 33, 127), (127, 33, 7), (300, 257, 301)])
def test_transposes_and_leading_dims(rng, isa, threads, ta, tb, m, n, k):
    check(rng, m, n, k, ta=ta, tb=tb)
    check(rng, m, n, k, ta=ta, tb=tb, pad=5)


# Around the narrow-kernel switch (n <= 16 on AVX-512, n <= 8 on AVX2), with k past one K block
# (the accumulate path), transposed operands (the 4 x 4 transposing pack) and ragged rows/depth.
@pytest.mark.parametrize("n", [1, 5, 8, 9, 15, 16, 17])
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False)])
def test_narrow_outputs(rng, isa, threads, n, ta, tb):
    check(rng, 203, n, 611, ta=ta, tb=tb)
    check(rng, 23, n, 13, ta=ta, tb=tb, pad=3)
    check(rng, 50, n, 300, ta=ta, tb=tb, alpha=-0.5, beta=0.75)


# A ragged last sliver of A rows (1..11 past a multiple of 12, the AVX-512 tile's MR) goes through
# the edge kernel that computes only the live rows, on full and ragged column slivers, over one and
# several K steps (the accumulate path), with alpha/beta.
@pytest.mark.parametrize("m", list(range(1, 14)) + [23, 64, 71])
def test_ragged_rows(rng, isa, threads, m):
    check(rng, m, 64, 100)
    check(rng, m, 70, 800, alpha=-0.5, beta=0.75)
    check(rng, m, 96, 395, ta=True, tb=True, beta=1.0)


# ---- thread splits: every way of sharing C between threads, forced, at the edges of the split ----

@pytest.fixture(params=["auto", "rows", "columns", "depth"])
def split(request):
    old = _C.gemm_set_split(request.param)
    yield request.param
    _C.gemm_set_split(old)


# Rows and columns around the tile sizes of every kernel (MR 4/6/12/24, NR 8/16/32), so the
# threads' shares end on and off sliver boundaries; k on and past the 384-deep panels (K steps are
# evened out: 385 = 2 x 193, 770 = 3 x 257), so the shared B panels alternate between their two
# buffers (a missing barrier or a wrong buffer reads another step's panel).
SPLIT_CASES = [
    (1, 1, 1), (2, 33, 5), (13, 1, 300), (11, 17, 257), (25, 31, 9), (24, 64, 513), (47, 65, 256),
    (49, 97, 255), (73, 16, 600), (97, 9, 770), (130, 129, 1025), (4, 200, 64), (200, 4, 64),
    (35, 70, 384), (26, 40, 385), (61, 33, 1537),
]


@pytest.mark.parametrize("m,n,k", SPLIT_CASES)
def test_thread_splits(rng, isa, threads, split, m, n, k):
    check(rng, m, n, k)
    check(rng, m, n, k, ta=True, tb=True, alpha=0.5, beta=-1.5)


@pytest.mark.parametrize("ta,tb", [(False, True), (False, False), (True, False)])  # Linear: x W^T, g W, g^T x
def test_thread_splits_linear_layouts(rng, isa, threads, split, ta, tb):
    check(rng, 64, 128, 784, ta=ta, tb=tb, beta=1.0)
    check(rng, 37, 10, 131, ta=ta, tb=tb)


def test_thread_splits_wide_panels(rng, threads, split):
    # n past one 3072-column B panel: several panels, each with its own K steps, and the threads'
    # shares of the slivers change between panels (a thread that packs into memory another
    # thread still reads fails here when the scheduler lets it run ahead, so repeat).
    for _ in range(8):
        check(rng, 5, 3100, 300)
        check(rng, 64, 3100, 300)
    check(rng, 30, 6200, 40, tb=True)


# The rows split hands its work out as it goes: the threads claim groups of B slivers to pack and
# groups of A rows to multiply, step (panel, K step) by step, a unit's rows finishing one step
# before the next and a panel buffer reused two steps on. Many units and K steps, C accumulated
# over them with beta, several panels, repeated so that one thread running ahead of the others
# (claiming rows not finished yet, packing a buffer still read) happens; three threads too, where
# a thread can be two steps ahead (oversubscribed on two cores, which only makes that likelier).
@pytest.mark.parametrize("nthreads", [2, 3])
@pytest.mark.parametrize("m,n,k", [(300, 200, 1600), (1000, 70, 1200), (97, 3100, 400), (13, 40, 2000),
                                   (13, 1000, 2000), (40, 1000, 2000)])
def test_rows_split_shares_work_as_it_goes(rng, isa, nthreads, m, n, k):
    old_split, old_threads = _C.gemm_set_split("rows"), tensorforge.get_num_threads()
    tensorforge.set_num_threads(nthreads)
    try:
        for _ in range(3):
            check(rng, m, n, k, alpha=0.5, beta=0.75)
        check(rng, m, n, k, ta=True, tb=True)
    finally:
        _C.gemm_set_split(old_split)
        tensorforge.set_num_threads(old_threads)


# The depth split (each thread a share of K, thread 0 into C, the others into partial buffers,
# then a reduction): K odd, K smaller than the thread count (a thread with no depth at all) and
# than one tile, K past several evened-out K steps per share, alpha/beta applied once across the
# reduction, C wider than one B panel, reused partial buffers at a larger then a smaller size.
DEPTH_CASES = [(1, 1, 1), (5, 3, 1), (7, 33, 2), (13, 40, 3), (12, 32, 31), (40, 70, 385), (33, 17, 769),
               (128, 128, 2049), (24, 3100, 300), (3, 5, 1537)]


@pytest.fixture
def depth_split():
    old = _C.gemm_set_split("depth")
    yield
    _C.gemm_set_split(old)


@pytest.mark.parametrize("m,n,k", DEPTH_CASES)
def test_depth_split(rng, isa, threads, depth_split, m, n, k):
    check(rng, m, n, k)
    check(rng, m, n, k, ta=True, alpha=-0.5, beta=0.75)
    check(rng, m, n, k, tb=True, alpha=2.0, beta=1.0, pad=3)


def test_depth_split_float64(rng, threads, depth_split):
    for ta, tb in itertools.product([False, True], repeat=2):
        check(rng, 29, 37, 1031, dtype=np.float64, ta=ta, tb=tb, alpha=0.5, beta=0.25)


def test_depth_split_chosen_for_long_k_and_small_c():
    if "avx512" not in ISAS:
        pytest.skip("the plan's constants are for the AVX-512 tiles")
    old = _C.active_isa()
    try:
        _C.set_active_isa("avx512")
        assert _C.gemm_plan(128, 128, 2048, 2, trans_a=True) == (2, "depth")
        assert _C.gemm_plan(128, 128, 2048, 1, trans_a=True)[0] == 1
        assert _C.gemm_plan(1024, 1024, 1024, 2)[1] != "depth"
        assert _C.gemm_plan(2048, 128, 128, 2)[1] != "depth"
        assert _C.gemm_plan(1024, 1024, 10**6, 2)[1] == "depth"
        assert _C.gemm_plan(4096, 2048, 10**6, 2)[1] != "depth"  # partial buffers capped (16 MiB)
    finally:
        _C.set_active_isa(old)


def test_thread_splits_float64(rng, threads, split):
    for ta, tb in itertools.product([False, True], repeat=2):
        check(rng, 29, 37, 515, dtype=np.float64, ta=ta, tb=tb, alpha=0.5, beta=0.25)


def test_split_mode_validation():
    with pytest.raises(ValueError, match="mode"):
        _C.gemm_set_split("diagonal")
    assert _C.gemm_set_split("auto") == "auto"


# The dot-kernel path (AVX-512, row-major A, n <= 16): every column-group width, ragged row
# blocks, k tails around the 16-wide vectors and past one 4096-deep block, B plain or transposed.
@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 9, 10, 13, 16])
@pytest.mark.parametrize("m,k", [(1, 64), (7, 17), (25, 128), (64, 300), (33, 4200)])
def test_few_columns(rng, isa, threads, n, m, k):
    check(rng, m, n, k, tb=True)
    check(rng, m, n, k, pad=3, alpha=-0.5, beta=0.75)
    check(rng, m, n, k, ta=True, tb=True)


def test_few_columns_take_the_dot_path():
    if "avx512" not in ISAS:
        pytest.skip("the dot kernel is AVX-512 only")
    old = _C.active_isa()
    try:
        _C.set_active_isa("avx512")
        assert _C.gemm_plan(256, 10, 128, 1)[1] == "dot"
        assert _C.gemm_plan(256, 10, 128, 1, trans_a=True)[1] != "dot"
        assert _C.gemm_plan(256, 17, 128, 1)[1] != "dot"
        _C.set_active_isa("avx2")
        assert _C.gemm_plan(256, 10, 128, 1)[1] != "dot"
    finally:
        _C.set_active_isa(old)


# The small-product path (AVX-512, B row-major, A either way, nothing packed): ragged rows around
# its 12-row tile, columns around its two 16-wide masked vectors, k from 1, wide leading
# dimensions, alpha/beta; the sizes stay under its 2^16 / 2^17 multiply-add limits.
@pytest.mark.parametrize("m", [1, 5, 11, 12, 13, 25])
@pytest.mark.parametrize("n", [1, 7, 16, 17, 31, 32, 33, 70])
def test_small_products(rng, isa, threads, m, n):
    for ta in (False, True):
        check(rng, m, n, 1, ta=ta)
        check(rng, m, n, 37, ta=ta, pad=3)
        check(rng, m, n, 64, ta=ta, alpha=-0.5, beta=0.75)


def test_small_products_take_the_small_path():
    if "avx512" not in ISAS:
        pytest.skip("the small kernel is AVX-512 only")
    old = _C.active_isa()
    try:
        _C.set_active_isa("avx512")
        assert _C.gemm_plan(10, 128, 64, 2, trans_a=True) == (1, "small")  # a Linear layer's grad-W
        assert _C.gemm_plan(64, 128, 10, 2) == (1, "small")
        assert _C.gemm_plan(32, 64, 64, 2) == (1, "small")  # 2^17 multiply-adds
        assert _C.gemm_plan(64, 128, 64, 1) == (1, "small")  # one thread: up to 2^20
        assert _C.gemm_plan(64, 128, 64, 2)[1] != "small"
        assert _C.gemm_plan(128, 128, 128, 1)[1] != "small"
        assert _C.gemm_plan(10, 128, 64, 2, trans_b=True)[1] != "small"  # B^T is packed
        assert _C.gemm_plan(64, 16, 64, 1, trans_a=True) == (1, "small")
        assert _C.gemm_plan(128, 16, 64, 1, trans_a=True)[1] != "small"  # half-empty tiles: 2^16 at most
        _C.set_active_isa("avx2")
        assert _C.gemm_plan(10, 128, 64, 1, trans_a=True)[1] != "small"
    finally:
        _C.set_active_isa(old)


def test_plan_keeps_small_products_on_one_thread():
    assert _C.gemm_plan(8, 8, 8, 2)[0] == 1
    assert _C.gemm_plan(1024, 1024, 1024, 2)[0] == 2
    assert _C.gemm_plan(1024, 1024, 1024, 1)[0] == 1


@pytest.mark.parametrize("alpha,beta", [(2.5, 0.0), (1.0, 1.0), (-0.5, 0.75), (0.0, 2.0)])
def test_alpha_beta(rng, isa, threads, alpha, beta):
    check(rng, 130, 70, 300, alpha=alpha, beta=beta)
    check(rng, 5, 3, 600, alpha=alpha, beta=beta, ta=True)


def test_output_with_wide_leading_dimension(rng, isa):
    a = rng.standard_normal((40, 30)).astype(np.float32)
    b = rng.standard_normal((30, 20)).astype(np.float32)
    big = np.full((40, 27), np.nan, np.float32)
    _C.gemm(a, b, big[:, 3:23])
    np.testing.assert_allclose(big[:, 3:23], a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    assert np.isnan(big[:, :3]).all() and np.isnan(big[:, 23:]).all(), "wrote outside the output view"


@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_k_zero(rng, beta):
    a = np.empty((5, 0), np.float32)
    b = np.empty((0, 4), np.float32)
    out = rng.standard_normal((5, 4)).astype(np.float32)
    expected = beta * out
    _C.gemm(a, b, out, beta=beta)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (33, 7, 127), (257, 129, 65)])
def test_float64(rng, threads, m, n, k):
    for ta, tb in itertools.product([False, True], repeat=2):
        check(rng, m, n, k, dtype=np.float64, ta=ta, tb=tb, alpha=0.5, beta=0.25)


@pytest.mark.parametrize("batch,m,n,k", [(1, 7, 5, 3), (6, 33, 17, 65), (3, 200, 150, 100), (40, 8, 8, 8)])
def test_batched(rng, isa, threads, batch, m, n, k):
    a = rng.standard_normal((batch, m, k)).astype(np.float32)
    b = rng.standard_normal((batch, n, k)).astype(np.float32).transpose(0, 2, 1)
    out = np.full((batch, m, n), np.nan, np.float32)
    _C.gemm(a, b, out)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    assert np.linalg.norm(out - ref) / np.linalg.norm(ref) < 1e-5


def test_batched_broadcast_operand(rng, threads):
    a = rng.standard_normal((5, 31, 17)).astype(np.float32)
    w = np.broadcast_to(rng.standard_normal((17, 9)).astype(np.float32), (5, 17, 9))  # batch stride 0
    out = np.full((5, 31, 9), np.nan, np.float32)
    _C.gemm(a, w, out)
    ref = a.astype(np.float64) @ w.astype(np.float64)
    assert np.linalg.norm(out - ref) / np.linalg.norm(ref) < 1e-5


def test_isa_paths_agree(rng):
    a = rng.standard_normal((77, 91)).astype(np.float32)
    b = rng.standard_normal((91, 55)).astype(np.float32)
    old, results = _C.active_isa(), []
    try:
        for isa in ISAS:
            _C.set_active_isa(isa)
            out = np.empty((77, 55), np.float32)
            _C.gemm(a, b, out)
            results.append(out)
    finally:
        _C.set_active_isa(old)
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=1e-5, atol=1e-4)


# ---- bad input: a clear exception naming the problem, never a crash ----

def f32(*shape):
    return np.ones(shape, np.float32)


@pytest.mark.parametrize("a,b,out,exc,pattern", [
    (f32(3, 4), f32(5, 2), f32(3, 2), ValueError, "shape mismatch"),
    (f32(3, 4), f32(4, 2), f32(3, 3), ValueError, "shape mismatch"),
    (f32(2, 3, 4), f32(3, 4, 2), f32(2, 3, 2), ValueError, "shape mismatch"),
    (f32(3, 4), f32(4, 2), f32(2, 3, 2), ValueError, "dimensions"),
    (f32(4), f32(4, 2), f32(2), ValueError, "dimensions"),
    (f32(3, 4), np.ones((4, 2)), f32(3, 2), TypeError, "dtype mismatch"),
    (np.ones((3, 4), np.int64), np.ones((4, 2), np.int64), np.ones((3, 2), np.int64), TypeError, "float32 or float64"),
    (f32(3, 8)[:, ::2], f32(4, 2), f32(3, 2), ValueError, "contiguous"),
    (f32(3, 4), f32(4, 2), f32(3, 4)[:, ::2], ValueError, "out must be contiguous"),
    (f32(3, 4), f32(4, 2), f32(2, 3).T, ValueError, "out must be row-major"),
])
def test_bad_arguments(a, b, out, exc, pattern):
    with pytest.raises(exc, match=pattern):
        _C.gemm(a, b, out)


def test_read_only_output():
    out = f32(3, 2)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _C.gemm(f32(3, 4), f32(4, 2), out)


def test_output_overlapping_input():
    buf = f32(4, 4)
    with pytest.raises(ValueError, match="overlaps"):
        _C.gemm(buf, f32(4, 4), buf)


def test_output_batch_stride_zero():
    out = np.broadcast_to(f32(3, 2), (2, 3, 2))
    with pytest.raises(ValueError):
        _C.gemm(f32(2, 3, 4), f32(2, 4, 2), out)
