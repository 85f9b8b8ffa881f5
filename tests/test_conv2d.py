"""conv2d: our kernels (forward, grad-input, grad-weight) against a float64 numpy reference on
every SIMD path and 1 and 2 threads with poisoned outputs; F.conv2d and nn.Conv2d against torch,
gradcheck of input, weight and bias gradients; clear errors for bad arguments."""
import numpy as np
import pytest

import tensorforge as tf
import tensorforge.nn.functional as F
from tensorforge import _C

from helpers import assert_close, random_array, to_torch, torch_module
from isa_threads import isa, threads  # noqa: F401 - fixtures

# (n, c_in, h, w, c_out, (kh, kw), stride, padding ((top, bottom), (left, right)), dilation, groups)
CASES = [
    (1, 1, 28, 28, 32, (3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),      # MNIST conv1
    (4, 32, 12, 12, 64, (3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),     # MNIST conv2, smaller image
    (7, 5, 9, 11, 6, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),        # odd batch (uneven thread split)
    (3, 16, 7, 9, 8, (1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),        # pointwise: GEMM on NCHW
    (2, 8, 9, 9, 12, (1, 1), (2, 2), ((0, 0), (0, 0)), (1, 1), 1),        # 1x1 stride 2 (downsample)
    (2, 3, 17, 13, 5, (5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1), 1),
    (2, 3, 23, 19, 8, (7, 7), (2, 2), ((3, 3), (3, 3)), (1, 1), 1),       # ResNet stem
    (3, 4, 11, 15, 6, (3, 1), (2, 1), ((1, 1), (0, 0)), (1, 2), 1),       # non-square everything
    (2, 4, 13, 13, 4, (3, 3), (1, 1), ((2, 2), (2, 2)), (2, 2), 1),       # dilation
    (2, 6, 9, 9, 4, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 2),         # groups
    (3, 8, 10, 11, 8, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 8),       # depthwise
    (2, 4, 9, 9, 8, (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 4),         # depthwise, multiplier 2, stride 2
    (2, 3, 10, 9, 4, (4, 2), (1, 1), ((1, 2), (0, 1)), (1, 1), 1),        # 'same' with an even kernel
    (1, 2, 5, 6, 3, (5, 6), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),         # kernel = image: 1x1 output
    (2, 3, 6, 5, 2, (2, 2), (3, 2), ((1, 0), (1, 1)), (1, 1), 1),         # windows past the last pixel
    # c_in/groups >= 48: stride-1 grad-input runs through the forward driver with flipped weights
    (3, 64, 7, 6, 16, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    (2, 50, 5, 7, 24, (1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    (2, 96, 6, 5, 4, (3, 2), (1, 1), ((2, 1), (0, 1)), (2, 1), 2),
    # AVX-512 float32: more than 32 channels per group that fill 32-wide tiles better than 12-row
    # ones run the implicit GEMM transposed (pixels as tile rows); odd pixel counts, ragged tiles
    (3, 5, 7, 9, 61, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),        # 61 channels, 189 pixels
    (1, 3, 23, 29, 64, (3, 3), (1, 1), ((1, 0), (0, 2)), (1, 1), 1),      # 667 pixels: several work items
    (2, 4, 6, 7, 122, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 2),       # groups of 61 channels
    (2, 61, 5, 7, 37, (3, 3), (1, 1), ((1, 1), (2, 0)), (1, 1), 1),       # grad-input into 61 channels
    # stride 1, one group, channels filling the 32/16/8-wide slivers: the padded-grid paths
    # (grid_conv.cpp, grid_grad_weight.cpp) for all three directions: several tiles per output
    # row, several chunks, K blocks, ragged slivers, accumulator rows padded to the tile, in-place
    # and copied grids, all images' grids at once or image by image, one image on 2 threads
    (2, 40, 31, 30, 61, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),     # 3 tiles per row, 93 tiles, 61 channels
    (1, 13, 20, 17, 30, (3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),     # input is the grid; K = 117
    (1, 128, 10, 9, 128, (9, 9), (1, 1), ((4, 4), (4, 4)), (1, 1), 1),    # 0.6-1.3 MB of weights: K blocks
    (3, 7, 15, 16, 30, (3, 5), (1, 1), ((2, 2), (1, 3)), (2, 1), 1),      # dilation, asymmetric padding
    (2, 9, 5, 4, 30, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),        # 4-pixel rows: tiles of 3 and 2 rows
    (3, 64, 36, 36, 30, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),     # grids over 1 MB: image by image
    (4, 64, 36, 36, 30, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),     # ... whole images per thread
    (2, 61, 9, 29, 128, (1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),     # 1x1: grad-input on the grid
    (3, 130, 9, 11, 32, (1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),     # 1x1 forward on the grid: x in place
    (5, 130, 22, 23, 32, (1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),    # ... in place, image by image
    (2, 128, 32, 33, 32, (1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),    # ... images over 512 KB: copied
    (2, 128, 9, 8, 64, (1, 1), (2, 2), ((1, 1), (1, 0)), (1, 1), 1),      # ... stride 2, padding: rows of zeros
    # short rows: tiles of one row of 2 or 3 images, a last group of fewer; output rows whose edge
    # taps (or every tap) read only zero padding leave those taps out
    (5, 48, 7, 7, 32, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),       # 7x7: image pairs, one left over
    (5, 16, 6, 4, 32, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),       # 4-pixel rows: 3 images, then 2
    (11, 512, 5, 5, 32, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),     # grids over 1 MB: pairs per thread
    (2, 16, 6, 7, 32, (3, 3), (1, 1), ((3, 3), (3, 2)), (1, 1), 1),       # padding 3: rows of padding only
    (2, 16, 9, 8, 32, (3, 3), (2, 2), ((3, 3), (2, 3)), (1, 1), 1),       # the same with stride 2
    # strides on the grid paths: the input split into stride phases (grid_conv.h), each a stride-1
    # grid; odd and even sizes, padding 0/1/2, dilations that leave some phases unread, short rows
    (2, 20, 13, 13, 32, (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 1),     # odd input, 7x7 output: 2-row tiles
    (2, 16, 14, 12, 64, (3, 3), (2, 2), ((0, 0), (0, 0)), (1, 1), 1),     # even input, no padding
    (2, 15, 16, 15, 30, (3, 3), (2, 2), ((2, 2), (2, 2)), (1, 1), 1),     # padding 2, K = 135
    (2, 16, 17, 16, 32, (3, 3), (2, 2), ((2, 1), (2, 2)), (2, 2), 1),     # dilation 2: one phase of four
    (2, 16, 15, 17, 32, (3, 3), (2, 1), ((1, 1), (2, 0)), (1, 2), 1),     # stride (2, 1), dilation (1, 2)
    (2, 40, 14, 13, 32, (2, 2), (3, 3), ((0, 1), (1, 0)), (1, 1), 1),     # stride 3 > kernel: skipped pixels
    (2, 3, 23, 22, 64, (7, 7), (2, 2), ((3, 3), (3, 3)), (1, 1), 1),      # ResNet stem, K = 147
    (3, 64, 40, 41, 32, (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 1),     # grids over 1 MB: image by image
    (4, 64, 40, 41, 32, (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 1),     # ... whole images per thread
    # strided grad-input on the grid: one stride-1 convolution of dy per stride phase of dx
    # (grid_grad_input.cpp); dx rows no window reaches, odd / even sizes, padding 0/1/2
    (2, 32, 13, 13, 64, (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 1),     # odd input: phases of 7 and 6
    (2, 64, 14, 12, 64, (3, 3), (2, 2), ((0, 0), (0, 0)), (1, 1), 1),     # last dx row / column unread
    (2, 32, 15, 16, 64, (3, 3), (2, 2), ((2, 2), (2, 2)), (1, 1), 1),     # padding 2
    (2, 30, 16, 15, 96, (5, 5), (2, 2), ((2, 2), (1, 2)), (1, 1), 1),     # 5x5: 9 / 6 / 6 / 4 taps per phase
    (2, 32, 15, 17, 64, (3, 3), (2, 1), ((1, 1), (2, 0)), (1, 2), 1),     # stride (2, 1), dilation (1, 2)
    (2, 32, 16, 17, 128, (3, 3), (3, 3), ((1, 1), (0, 1)), (1, 1), 1),    # stride 3: one tap per phase
    (2, 32, 17, 16, 64, (3, 3), (2, 2), ((2, 1), (2, 2)), (2, 2), 1),     # dilation 2: odd rows unreached, col2im
    (4, 32, 44, 44, 192, (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 1),    # dy grids over 1 MB
    # c_in/groups == 1: the direct path (direct_conv.cpp) for forward and grad-weight
    (64, 1, 28, 28, 32, (3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),     # MNIST conv1, full batch
    (3, 1, 37, 41, 7, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),       # 1517 pixels: two chunks; 7 channels
    (2, 1, 19, 23, 5, (5, 3), (2, 3), ((2, 1), (0, 2)), (2, 1), 1),       # stride, asymmetric padding, dilation
    (1, 1, 11, 9, 3, (7, 7), (1, 1), ((3, 3), (3, 3)), (1, 1), 1),        # 49 taps: several tap blocks
    (2, 1, 5, 5, 33, (1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),        # one tap, 33 channels
    (2, 3, 12, 10, 9, (3, 3), (2, 1), ((1, 1), (1, 1)), (1, 2), 3),       # groups of one channel, multiplier 3
]


def _out_size(size, pads, k, s, d):
    return (size + pads[0] + pads[1] - d * (k - 1) - 1) // s + 1


def _taps(x, case):
    """Yields (p, q, patch) with patch[n, c, i, j] = padded x at the input pixel tap (p, q) of output (i, j) reads."""
    n, c_in, h, w, c_out, (kh, kw), (sh, sw), (ph, pw), (dh, dw), groups = case
    oh, ow = _out_size(h, ph, kh, sh, dh), _out_size(w, pw, kw, sw, dw)
    xp = np.pad(x, ((0, 0), (0, 0), ph, pw))
    for p in range(kh):
        for q in range(kw):
            yield p, q, (slice(None), slice(None), slice(p * dh, p * dh + (oh - 1) * sh + 1, sh),
                         slice(q * dw, q * dw + (ow - 1) * sw + 1, sw)), xp


def reference(case, x, w, b, dy):
    """float64 forward, grad-input and grad-weight by summing over kernel taps of grouped einsums."""
    n, c_in, h, wd, c_out, (kh, kw), _, (ph, pw), _, g = case
    x, w, dy = (a.astype(np.float64) for a in (x, w, dy))
    wg = w.reshape(g, c_out // g, c_in // g, kh, kw)
    y = dy_g = None
    dxp = np.zeros((n, c_in, h + sum(ph), wd + sum(pw)))
    dw = np.zeros_like(wg)
    for p, q, sl, xp in _taps(x, case):
        patch = xp[sl]
        pg = patch.reshape(n, g, c_in // g, *patch.shape[2:])
        if y is None:
            y = np.zeros((n, g, c_out // g) + patch.shape[2:])
            dy_g = dy.reshape(y.shape)
        y += np.einsum("ngcij,goc->ngoij", pg, wg[..., p, q])
        dxp[sl] += np.einsum("ngoij,goc->ngcij", dy_g, wg[..., p, q]).reshape(patch.shape)
        dw[..., p, q] = np.einsum("ngoij,ngcij->goc", dy_g, pg)
    y = y.reshape(n, c_out, *y.shape[3:]) + b.astype(np.float64)[None, :, None, None]
    dx = dxp[:, :, ph[0]:ph[0] + h, pw[0]:pw[0] + wd]
    return y, dx, dw.reshape(w.shape)


def _random_case_arrays(rng, case, dtype):
    n, c_in, h, w, c_out, (kh, kw), st, (ph, pw), dl, g = case
    oh, ow = _out_size(h, ph, kh, st[0], dl[0]), _out_size(w, pw, kw, st[1], dl[1])
    x = random_array(rng, (n, c_in, h, w)).astype(dtype)
    wt = random_array(rng, (c_out, c_in // g, kh, kw)).astype(dtype)
    b = random_array(rng, (c_out,)).astype(dtype)
    dy = random_array(rng, (n, c_out, oh, ow)).astype(dtype)
    return x, wt, b, dy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_kernels_match_reference(rng, isa, threads, case, dtype):
    x, w, b, dy = _random_case_arrays(rng, case, dtype)
    y_ref, dx_ref, dw_ref = reference(case, x, w, b, dy)
    _, _, _, _, _, _, stride, (ph, pw), dilation, groups = case
    geometry = (stride, (ph[0], pw[0]), dilation, groups)
    y = np.full(y_ref.shape, np.nan, dtype)
    dx = np.full(x.shape, np.nan, dtype)
    dw = np.full(w.shape, np.nan, dtype)
    _C.conv2d_forward(x, w, b, y, *geometry)
    _C.conv2d_grad_input(dy, w, dx, *geometry)
    _C.conv2d_grad_weight(x, dy, dw, *geometry)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for name, out, ref in (("forward", y, y_ref), ("grad_input", dx, dx_ref), ("grad_weight", dw, dw_ref)):
        assert np.all(np.isfinite(out)), f"{name}: poisoned output not fully written"
        assert_close(out, ref, tol)


def test_forward_without_bias_and_empty_batch(rng):
    case = CASES[2]
    x, w, _, _ = _random_case_arrays(rng, case, np.float32)
    zero_b = np.zeros(w.shape[0], np.float32)
    y_ref = reference(case, x, w, zero_b, np.zeros((7, 6, 9, 11)))[0]
    y = F.conv2d(tf.tensor(x), tf.tensor(w), padding=1)
    assert_close(y.numpy(), y_ref, 2e-5)
    assert F.conv2d(tf.zeros(0, 5, 9, 11), tf.tensor(w), padding=1).shape == (0, 6, 9, 11)


# (input shape, weight shape, kwargs) for F.conv2d against torch, forward and all three gradients
TORCH_CASES = [
    ((2, 3, 9, 8), (4, 3, 3, 3), dict(stride=1, padding=1)),
    ((3, 4, 10, 7), (6, 2, 3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
    ((2, 3, 10, 9), (5, 3, 4, 3), dict(padding="same")),
    ((2, 3, 10, 9), (5, 3, 3, 3), dict(padding="same", dilation=2)),
    ((1, 4, 7, 7), (4, 4, 3, 3), dict(padding="valid")),
    ((2, 6, 8, 9), (6, 1, 3, 3), dict(padding=1, groups=6)),
    ((3, 5, 11), (4, 3, 1, 1), dict()),  # unbatched
    ((2, 1, 9, 8), (5, 1, 3, 3), dict(padding=2, dilation=2)),
    ((1, 1, 13, 12), (6, 1, 5, 5), dict(stride=2, padding="valid")),
]


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("xs,ws,kw", TORCH_CASES)
def test_functional_matches_torch(rng, xs, ws, kw, with_bias):
    torch = torch_module()
    if len(xs) == 3:
        ws = (ws[0], xs[0], *ws[2:])
    x, w = random_array(rng, xs), random_array(rng, ws)
    b = random_array(rng, (ws[0],))
    tx, tw, tb = to_torch(torch, [x, w, b])
    ours = [tf.tensor(a, requires_grad=True) for a in (x, w, b)]
    ref = torch.nn.functional.conv2d(tx, tw, tb if with_bias else None, **kw)
    out = F.conv2d(ours[0], ours[1], ours[2] if with_bias else None, **kw)
    assert out.shape == tuple(ref.shape)
    assert_close(out.detach().numpy(), ref.detach().numpy(), 1e-12)
    dy = random_array(rng, tuple(ref.shape))
    ref.backward(torch.tensor(dy))
    out.backward(tf.tensor(dy))
    assert_close(ours[0].grad.numpy(), tx.grad.numpy(), 1e-12)
    assert_close(ours[1].grad.numpy(), tw.grad.numpy(), 1e-12)
    if with_bias:
        assert_close(ours[2].grad.numpy(), tb.grad.numpy(), 1e-12)
    else:
        assert ours[2].grad is None


@pytest.mark.parametrize("xs,ws,kw", [
    ((2, 2, 5, 4), (3, 2, 3, 2), dict(padding=1)),
    ((1, 4, 6, 5), (4, 2, 2, 3), dict(stride=2, padding=(1, 1), dilation=(2, 1), groups=2)),
    ((2, 3, 4, 5), (3, 1, 3, 3), dict(padding="same", groups=3)),
    ((2, 1, 7, 6), (3, 1, 3, 2), dict(stride=(2, 1), padding=1, dilation=(1, 2))),
])
def test_gradcheck(rng, xs, ws, kw):
    x = tf.tensor(random_array(rng, xs), requires_grad=True)
    w = tf.tensor(random_array(rng, ws), requires_grad=True)
    b = tf.tensor(random_array(rng, (ws[0],)), requires_grad=True)
    assert tf.autograd.gradcheck(lambda a, c, d: F.conv2d(a, c, d, **kw), [x, w, b])


def test_float32_autograd_and_noncontiguous_input(rng):
    torch = torch_module()
    base = random_array(rng, (2, 9, 9, 3)).astype(np.float32)
    x = tf.tensor(base, requires_grad=True)
    w = tf.tensor(random_array(rng, (4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    out = F.conv2d(x.permute(0, 3, 1, 2), w, stride=2, padding=1)
    out.sum().backward()
    tx, tw = to_torch(torch, [base, w.detach().numpy()])
    ref = torch.nn.functional.conv2d(tx.permute(0, 3, 1, 2), tw, stride=2, padding=1)
    ref.sum().backward()
    assert out.dtype == tf.float32 and x.grad.dtype == tf.float32
    assert_close(out.detach().numpy(), ref.detach().numpy(), 1e-5)
    assert_close(x.grad.numpy(), tx.grad.numpy(), 1e-5)
    assert_close(w.grad.numpy(), tw.grad.numpy(), 1e-5)


def test_conv2d_module_matches_torch(rng):
    torch = torch_module()
    m = tf.nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=1, groups=2)
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert m.weight.shape == (6, 2, 3, 2) and m.bias.shape == (6,)
    bound = 1 / np.sqrt(2 * 3 * 2)  # fan_in = in_channels / groups * kH * kW
    assert np.abs(m.weight.detach().numpy()).max() <= bound and np.abs(m.bias.detach().numpy()).max() <= bound
    tm = torch.nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=1, groups=2)
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(m.weight.detach().numpy()))
        tm.bias.copy_(torch.tensor(m.bias.detach().numpy()))
    x = random_array(rng, (3, 4, 8, 7)).astype(np.float32)
    assert_close(m(tf.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(), 1e-5)
    assert tf.nn.Conv2d(3, 8, 3, bias=False).bias is None
    assert tf.nn.Conv2d(3, 8, 5, padding="same")(tf.randn(1, 3, 9, 7)).shape == (1, 8, 9, 7)


@pytest.mark.parametrize("xs,ws,kw,exc,match", [
    ((2, 3, 8, 8), (4, 2, 3, 3), {}, RuntimeError, "expected input .* to have 2 channels"),
    ((2, 4, 8, 8), (6, 2, 3, 3), dict(groups=3), RuntimeError, "groups=3 must divide in_channels"),
    ((2, 4, 8, 8), (5, 2, 3, 3), dict(groups=2), RuntimeError, "groups=2 must divide out_channels"),
    ((2, 3, 4, 4), (4, 3, 7, 3), dict(padding=1), RuntimeError, "kernel size can't be greater"),
    ((2, 3, 4, 4), (4, 3, 3, 3), dict(dilation=2), RuntimeError, "kernel size can't be greater"),
    ((3, 8, 8), (4, 3, 3), {}, RuntimeError, "weight must be 4-D"),
    ((8, 8), (4, 3, 3, 3), {}, RuntimeError, "expected 3D .* or 4D"),
    ((1, 2, 3, 8, 8), (4, 3, 3, 3), {}, RuntimeError, "expected 3D .* or 4D"),
    ((2, 3, 8, 8), (4, 3, 3, 3), dict(padding="same", stride=2), ValueError, "not supported for strided"),
    ((2, 3, 8, 8), (4, 3, 3, 3), dict(padding="full"), ValueError, "Invalid padding string"),
    ((2, 3, 8, 8), (4, 3, 3, 3), dict(stride=0), ValueError, "stride must be >= 1"),
    ((2, 3, 8, 8), (4, 3, 3, 3), dict(padding=-1), ValueError, "padding must be >= 0"),
    ((2, 3, 8, 8), (4, 3, 3, 3), dict(groups=0), ValueError, "groups must be a positive int"),
])
def test_errors(xs, ws, kw, exc, match):
    with pytest.raises(exc, match=match):
        F.conv2d(tf.randn(*xs), tf.randn(*ws), **kw)


def test_dtype_and_bias_errors():
    x, w = tf.randn(1, 3, 5, 5), tf.randn(2, 3, 3, 3)
    with pytest.raises(RuntimeError, match="same dtype"):
        F.conv2d(x.double(), w)
    with pytest.raises(RuntimeError, match="bias must have shape"):
        F.conv2d(x, w, tf.randn(3))
    with pytest.raises(RuntimeError, match="float32 or float64"):
        F.conv2d(tf.ones(1, 3, 5, 5, dtype=tf.int64), tf.ones(2, 3, 3, 3, dtype=tf.int64))


def test_binding_rejects_inconsistent_arrays():
    x = np.zeros((2, 3, 5, 5), np.float32)
    w = np.zeros((4, 3, 3, 3), np.float32)
    geometry = ((1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.conv2d_forward(x.transpose(0, 1, 3, 2), w, None, np.zeros((2, 4, 3, 3), np.float32), *geometry)
    with pytest.raises(ValueError, match="does not match"):
        _C.conv2d_forward(x, w, None, np.zeros((2, 5, 3, 3), np.float32), *geometry)
    with pytest.raises(TypeError, match="dtype mismatch"):
        _C.conv2d_grad_weight(x, np.zeros((2, 4, 3, 3)), np.zeros_like(w), *geometry)
