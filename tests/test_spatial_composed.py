"""ops/spatial_composed.py (conv2d and pooling composed from array operations: the float64 path on CUDA)
run here on numpy arrays against our CPU kernels, on random geometries: strides, asymmetric padding,
dilation, groups, ceil_mode, count_include_pad, divisor_override, -inf and NaN inputs, poisoned outputs
of the reference kernels."""
import numpy as np
import pytest

import tensorforge.nn.functional as F  # noqa: F401 - loads the ops package
from tensorforge import _C
from tensorforge.ops import spatial_composed as composed
from tensorforge.ops.conv import _output_size as conv_output_size
from tensorforge.ops.pooling import _output_size as pool_output_size



def random_conv(rng):
    groups = int(rng.choice([1, 2, 3]))
    cg, og = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    kh, kw = (int(v) for v in rng.integers(1, 5, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    dh, dw = (int(v) for v in rng.integers(1, 3, 2))
    pads = [(int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(2)]
    h = int(rng.integers((kh - 1) * dh + 1, 12))
    w = int(rng.integers((kw - 1) * dw + 1, 12))
    n = int(rng.integers(1, 4))
    out_hw = (conv_output_size(h, pads[0], kh, sh, dh), conv_output_size(w, pads[1], kw, sw, dw))
    geometry = ((sh, sw), (pads[0][0], pads[1][0]), (dh, dw), groups)
    x = rng.standard_normal((n, groups * cg, h, w))
    wt = rng.standard_normal((groups * og, cg, kh, kw))
    return x, wt, rng.standard_normal(groups * og), geometry, out_hw


@pytest.mark.parametrize("seed", range(40))
def test_conv2d_matches_our_kernels(seed):
    rng = np.random.default_rng(seed)
    x, w, b, geometry, out_hw = random_conv(rng)
    if min(out_hw) < 1:
        pytest.skip("empty output")
    y = np.full((x.shape[0], w.shape[0]) + out_hw, np.nan)
    _C.conv2d_forward(x, w, b, y, *geometry)
    np.testing.assert_allclose(composed.conv2d_forward(x, w, b, geometry, out_hw), y, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    gx = np.full(x.shape, np.nan)
    _C.conv2d_grad_input(g, w, gx, *geometry)
    np.testing.assert_allclose(composed.conv2d_grad_input(g, w, x.shape, geometry), gx, rtol=1e-12, atol=1e-12)
    gw = np.full(w.shape, np.nan)
    _C.conv2d_grad_weight(x, g, gw, *geometry)
    np.testing.assert_allclose(composed.conv2d_grad_weight(x, g, w.shape, geometry), gw, rtol=1e-12, atol=1e-12)


def random_pool(rng, dilated):
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    dh, dw = (int(v) for v in rng.integers(1, 3, 2)) if dilated else (1, 1)
    ph, pw = int(rng.integers(0, ((dh * (kh - 1) + 1) // 2) + 1)), int(rng.integers(0, ((dw * (kw - 1) + 1) // 2) + 1))
    h, w = int(rng.integers((kh - 1) * dh + 1, 11)), int(rng.integers((kw - 1) * dw + 1, 11))
    ceil = bool(rng.integers(0, 2))
    out_hw = (pool_output_size(h, kh, sh, ph, dh, ceil), pool_output_size(w, kw, sw, pw, dw, ceil))
    x = rng.standard_normal((2, 3, h, w))
    return x, (kh, kw), (sh, sw), (ph, pw), (dh, dw), out_hw


@pytest.mark.parametrize("seed", range(40))
def test_max_pool_matches_our_kernels(seed):
    rng = np.random.default_rng(100 + seed)
    x, kernel, stride, padding, dilation, out_hw = random_pool(rng, dilated=True)
    x[0, 0, 0, :] = -np.inf  # a row of -inf: padding must never win over it
    if seed % 4 == 0:
        x[1, 2, rng.integers(0, x.shape[2]), rng.integers(0, x.shape[3])] = np.nan
    y, idx = np.full(x.shape[:2] + out_hw, np.nan), np.full(x.shape[:2] + out_hw, -7, np.int64)
    _C.max_pool2d_forward(x, y, idx, kernel, stride, padding, dilation)
    cy, cidx = composed.max_pool2d_forward(x, out_hw, kernel, stride, padding, dilation)
    np.testing.assert_array_equal(cy, y)
    np.testing.assert_array_equal(cidx, idx)
    g = rng.standard_normal(y.shape)
    dx = np.full(x.shape, np.nan)
    _C.max_pool2d_backward(g, idx, dx)
    np.testing.assert_allclose(composed.max_pool2d_backward(g, idx, x.shape, kernel, stride, padding, dilation), dx,
                               rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("seed", range(40))
def test_avg_pool_matches_our_kernels(seed):
    rng = np.random.default_rng(200 + seed)
    x, kernel, stride, padding, _, out_hw = random_pool(rng, dilated=False)
    include_pad = bool(seed % 2)
    divisor = int(rng.integers(1, 7)) if seed % 5 == 0 else 0
    y = np.full(x.shape[:2] + out_hw, np.nan)
    _C.avg_pool2d_forward(x, y, kernel, stride, padding, include_pad, divisor)
    np.testing.assert_allclose(composed.avg_pool2d_forward(x, out_hw, kernel, stride, padding, include_pad, divisor),
                               y, rtol=1e-13, atol=1e-14)
    g = rng.standard_normal(y.shape)
    dx = np.full(x.shape, np.nan)
    _C.avg_pool2d_backward(g, dx, kernel, stride, padding, include_pad, divisor)
    np.testing.assert_allclose(composed.avg_pool2d_backward(g, x.shape, kernel, stride, padding, include_pad,
                                                            divisor), dx, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("include_pad", [True, False])
def test_avg_pool_ceil_mode_window_past_the_padding(include_pad):
    """6 wide, kernel 3, stride 2, padding 1, ceil_mode: the last window reaches past the padded input
    and PyTorch divides by its clipped size."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 2, 6, 6))
    out_hw = (pool_output_size(6, 3, 2, 1, 1, True),) * 2
    y = np.full((1, 2) + out_hw, np.nan)
    _C.avg_pool2d_forward(x, y, (3, 3), (2, 2), (1, 1), include_pad, 0)
    np.testing.assert_allclose(composed.avg_pool2d_forward(x, out_hw, (3, 3), (2, 2), (1, 1), include_pad, 0), y,
                               rtol=1e-13)
