"""conv2d and 2-D pooling composed from array-library operations, for the dtypes our CUDA kernels do not
take (float64 on CUDA: gradient checks and float64 models). Works on numpy and cupy arrays alike and
never moves device data to the host (only small index/count tables are built on the host).

Every function walks the kernel's taps: tap (i, j) of every output pixel reads the padded input at
(oy * sh + i * dh, ox * sw + j * dw), a strided slice of the padded input. conv2d stacks the slices into
columns (N, groups, C/groups * kh * kw, oh * ow) and multiplies them with the weight (one batched matmul);
the gradients are the two other products, the input's by adding each tap's slice back. Pooling takes the
max / sum over the stacked taps. Memory is kh * kw times the input, which is fine for float64 checks and
is why the float32 path uses our kernels instead.

Geometry follows ops/_kernels.py: stride, padding (top, left), dilation pairs; the output size is given
(asymmetric padding and ceil_mode make the bottom/right padding whatever the output needs)."""
import numpy as np

from .._backend import xp


def _padded(x, out_hw, kernel, stride, padding, dilation, fill):
    """x inside a (N, C, Hp, Wp) array of `fill` that holds every tap of every output pixel."""
    n, c, h, w = x.shape
    need = [(o - 1) * s + (k - 1) * d + 1 for o, k, s, d in zip(out_hw, kernel, stride, dilation)]
    hp, wp = max(need[0], padding[0] + h), max(need[1], padding[1] + w)
    cp = xp(x)
    out = cp.full((n, c, hp, wp), fill, x.dtype)
    out[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w] = x
    return out


def _tap_slices(out_hw, kernel, stride, dilation):
    """For each tap (i, j) in row-major order: the (rows, cols) slices of the padded input it reads."""
    (oh, ow), (kh, kw), (sh, sw), (dh, dw) = out_hw, kernel, stride, dilation
    return [(slice(i * dh, i * dh + (oh - 1) * sh + 1, sh), slice(j * dw, j * dw + (ow - 1) * sw + 1, sw))
            for i in range(kh) for j in range(kw)]


def _columns(x, out_hw, kernel, stride, padding, dilation, fill=0.0):
    """(N, C, taps, oh, ow): every tap's strided slice of the padded input."""
    xp_ = _padded(x, out_hw, kernel, stride, padding, dilation, fill)
    return xp(x).stack([xp_[:, :, rows, cols] for rows, cols in _tap_slices(out_hw, kernel, stride, dilation)],
                       axis=2)


def _add_taps(dcols, x_shape, out_hw, kernel, stride, padding, dilation):
    """The adjoint of _columns: each tap's (N, C, oh, ow) slice added back into a zero padded input,
    then the padding cut away."""
    n, c, h, w = x_shape
    cp = xp(dcols)
    zero = cp.zeros((n, c, h, w), dcols.dtype)
    acc = _padded(zero, out_hw, kernel, stride, padding, dilation, 0.0)
    for t, (rows, cols) in enumerate(_tap_slices(out_hw, kernel, stride, dilation)):
        acc[:, :, rows, cols] += dcols[:, :, t]
    return cp.ascontiguousarray(acc[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w])


# ---- conv2d ----------------------------------------------------------------------------------------
def _conv_views(w_shape, groups, out_hw):
    o, cg, kh, kw = w_shape
    return o // groups, cg * kh * kw, out_hw[0] * out_hw[1]


def conv2d_forward(x, w, b, geometry, out_hw):
    stride, padding, dilation, groups = geometry
    cp = xp(x)
    n = x.shape[0]
    og, k, p = _conv_views(w.shape, groups, out_hw)
    cols = _columns(x, out_hw, w.shape[2:], stride, padding, dilation).reshape(n, groups, k, p)
    y = cp.matmul(w.reshape(groups, og, k), cols).reshape(n, w.shape[0], *out_hw)
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return cp.ascontiguousarray(y)


def conv2d_grad_input(g, w, x_shape, geometry):
    stride, padding, dilation, groups = geometry
    cp = xp(g)
    n, out_hw = g.shape[0], g.shape[2:]
    og, k, p = _conv_views(w.shape, groups, out_hw)
    w_t = cp.swapaxes(w.reshape(groups, og, k), 1, 2)  # (groups, k, og)
    dcols = cp.matmul(w_t, g.reshape(n, groups, og, p)).reshape(n, x_shape[1], -1, *out_hw)
    return _add_taps(dcols, x_shape, out_hw, w.shape[2:], stride, padding, dilation)


def conv2d_grad_weight(x, g, w_shape, geometry):
    stride, padding, dilation, groups = geometry
    cp = xp(g)
    n, out_hw = g.shape[0], g.shape[2:]
    og, k, p = _conv_views(w_shape, groups, out_hw)
    cols = _columns(x, out_hw, w_shape[2:], stride, padding, dilation).reshape(n, groups, k, p)
    gw = cp.matmul(g.reshape(n, groups, og, p), cp.swapaxes(cols, 2, 3)).sum(axis=0)
    return cp.ascontiguousarray(gw.reshape(w_shape))


# ---- pooling ---------------------------------------------------------------------------------------
def _tap_table(x_shape, out_hw, kernel, stride, padding, dilation):
    """(taps, oh, ow) int64 flat in-plane input index of each tap, -1 where the tap is padding."""
    h, w = x_shape[2:]
    (oh, ow), (kh, kw), (sh, sw), (dh, dw) = out_hw, kernel, stride, dilation
    rows = np.arange(oh)[None, :] * sh - padding[0] + np.arange(kh)[:, None] * dh  # (kh, oh)
    cols = np.arange(ow)[None, :] * sw - padding[1] + np.arange(kw)[:, None] * dw  # (kw, ow)
    r, c = rows[:, None, :, None], cols[None, :, None, :]
    table = np.where((r >= 0) & (r < h) & (c >= 0) & (c < w), r * w + c, -1)
    return table.reshape(kh * kw, oh, ow).astype(np.int64)


def max_pool2d_forward(x, out_hw, kernel, stride, padding, dilation):
    """(y, flat in-plane int64 indices of each maximum), NaN propagating, ties to the first tap, as
    PyTorch; padding never wins, even over -inf inputs."""
    cp = xp(x)
    vals = _columns(x, out_hw, kernel, stride, padding, dilation, fill=-np.inf)
    table = cp.asarray(_tap_table(x.shape, out_hw, kernel, stride, padding, dilation))
    valid = table >= 0
    best = vals.max(axis=2, keepdims=True)
    wins = ((vals == best) | cp.isnan(vals)) & valid
    tap = cp.argmax(wins, axis=2)  # first winning tap
    idx = cp.take_along_axis(cp.broadcast_to(table, vals.shape), tap[:, :, None], axis=2)[:, :, 0]
    y = cp.take_along_axis(vals, tap[:, :, None], axis=2)[:, :, 0]
    return cp.ascontiguousarray(y), cp.ascontiguousarray(idx)


def max_pool2d_backward(g, idx, x_shape, kernel, stride, padding, dilation):
    """Each output's gradient goes to the input its index names: per tap, where the saved index is that
    tap's input (one tap per output, so nothing is counted twice)."""
    cp = xp(g)
    out_hw = g.shape[2:]
    table = cp.asarray(_tap_table(x_shape, out_hw, kernel, stride, padding, dilation))
    dcols = cp.where(idx[:, :, None] == table, g[:, :, None], 0.0).astype(g.dtype)
    return _add_taps(dcols, x_shape, out_hw, kernel, stride, padding, dilation)


def _avg_divisors(x_shape, out_hw, kernel, stride, padding, count_include_pad, divisor):
    """(oh, ow) divisor of each window: the override; or the window clipped to the padded input
    (count_include_pad); or its number of input pixels (PyTorch's rules)."""
    if divisor:
        return np.full(out_hw, float(divisor))
    h, w = x_shape[2:]
    counts = []
    for o, k, s, p, size in zip(out_hw, kernel, stride, padding, (h, w)):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, size + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        counts.append(end - start)
    return np.outer(counts[0], counts[1]).astype(np.float64)


def avg_pool2d_forward(x, out_hw, kernel, stride, padding, count_include_pad, divisor):
    cp = xp(x)
    total = _columns(x, out_hw, kernel, stride, padding, (1, 1)).sum(axis=2)
    div = cp.asarray(_avg_divisors(x.shape, out_hw, kernel, stride, padding, count_include_pad, divisor), x.dtype)
    return cp.ascontiguousarray(total / div)


def avg_pool2d_backward(g, x_shape, kernel, stride, padding, count_include_pad, divisor):
    cp = xp(g)
    out_hw = g.shape[2:]
    div = cp.asarray(_avg_divisors(x_shape, out_hw, kernel, stride, padding, count_include_pad, divisor), g.dtype)
    share = g / div
    dcols = cp.broadcast_to(share[:, :, None], share.shape[:2] + (kernel[0] * kernel[1],) + share.shape[2:])
    return _add_taps(dcols, x_shape, out_hw, kernel, stride, padding, (1, 1))
