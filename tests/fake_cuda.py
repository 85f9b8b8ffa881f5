"""The "cuda (stand-in)" device for tests on machines without a GPU. Tests only.

install(monkeypatch) puts tests/fake_cupy.py in sys.modules as cupy (and its scatter_add as cupyx),
makes tensorforge.cuda report one available device, and replaces tensorforge.cuda's kernel entry
points with float64 numpy references that check what the real bindings check (device arrays, float32,
the layouts each kernel takes) so an op that routes the wrong array to a kernel fails here too.
None of this says anything about the real CUDA kernels: tests/test_cuda_kernels.py does, on a GPU.
"""
import sys
import types

import numpy as np

import fake_cupy


def _arr(x, name, f32=True, dense=False):
    if not isinstance(x, fake_cupy.ndarray):
        raise TypeError(f"{name} must be a CUDA array exposing __cuda_array_interface__, got {type(x).__name__} "
                        "(fake cuda stand-in)")
    a = x._a
    if f32 and a.dtype != np.float32:
        raise TypeError(f"{name} must be float32, got {a.dtype} (the CUDA kernels are float32 only so far)")
    if dense and not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (fake cuda stand-in)")
    return a


def _gemm_layout(a, name):
    rs, cs = a.strides[-2] // a.itemsize, a.strides[-1] // a.itemsize
    rows, cols = a.shape[-2:]
    if not ((cols == 1 or cs == 1) or (rows == 1 or rs == 1)):
        raise ValueError(f"{name} must be contiguous along one of its last two dimensions")


def tensor_core_path():
    """The stand-in plays a GPU with tensor cores (compute capability 8.0+)."""
    return "mma.sync (stand-in)"


def gemm(a, b, out=None, *, alpha=1.0, beta=0.0, stream=None, precision="highest", tensor_core="auto"):
    A, B = _arr(a, "a"), _arr(b, "b")
    for x, n in ((A, "a"), (B, "b")):
        if x.ndim not in (2, 3):
            raise ValueError(f"{n} must have 2 to 3 dimensions")
        _gemm_layout(x, n)
    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"precision must be 'highest', 'high' or 'medium', got {precision!r}")
    A, B = A.astype(np.float64), B.astype(np.float64)
    if precision != "highest":  # the tensor-core kernels' operand rounding: tf32 (cvt.rna) or bf16 (RNE)
        bits, ties_away = (11, True) if precision == "high" else (8, False)
        A, B = _round_sig(A, bits, ties_away), _round_sig(B, bits, ties_away)
    r = alpha * np.matmul(A, B)
    if out is None:
        out = fake_cupy.ndarray(np.empty(r.shape, np.float32))
    O = _arr(out, "out")
    if O.strides[-1] != O.itemsize:
        raise ValueError("out must be row-major")
    if beta != 0:
        r = r + beta * O
    O[...] = r
    return out


def _adam(params, grads, exp_avgs, exp_avg_sqs, lr, beta1, beta2, eps, weight_decay, step, adamw):
    for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs):
        P, G, M, V = (_arr(x, n, dense=True) for x, n in ((p, "param"), (g, "grad"), (m, "exp_avg"),
                                                             (v, "exp_avg_sq")))
        g64 = G.astype(np.float64)
        if adamw:
            P *= 1 - lr * weight_decay
        elif weight_decay:
            g64 = g64 + weight_decay * P
        M[...] = beta1 * M + (1 - beta1) * g64
        V[...] = beta2 * V + (1 - beta2) * g64 * g64
        denom = np.sqrt(V / (1 - beta2 ** step)) + eps
        P[...] = P - (lr / (1 - beta1 ** step)) * M / denom


def adamw_step(params, grads, exp_avgs, exp_avg_sqs, *, lr, step, beta1=0.9, beta2=0.999, eps=1e-8,
               weight_decay=1e-2, stream=None):
    _adam(params, grads, exp_avgs, exp_avg_sqs, lr, beta1, beta2, eps, weight_decay, step, True)


def adam_step(params, grads, exp_avgs, exp_avg_sqs, *, lr, step, beta1=0.9, beta2=0.999, eps=1e-8,
              weight_decay=0.0, stream=None):
    _adam(params, grads, exp_avgs, exp_avg_sqs, lr, beta1, beta2, eps, weight_decay, step, False)


def _cpu_conv(name, *args):
    """Runs our CPU kernel `name` on the host arrays (the CPU kernels are tested against float64)."""
    from tensorforge import _C

    getattr(_C, name)(*args)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d_forward(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, out=None, stream=None):
    x, w = _arr(input, "input", dense=True), _arr(weight, "weight", dense=True)
    b = None if bias is None else _arr(bias, "bias", dense=True)
    y = _arr(out, "out", dense=True)
    _cpu_conv("conv2d_forward", x, w, b, y, _pair(stride), _pair(padding), _pair(dilation), int(groups))
    return out


def conv2d_grad_input(grad_output, weight, input_shape, stride=1, padding=0, dilation=1, groups=1, *, out=None,
                      stream=None):
    g, w = _arr(grad_output, "grad_output", dense=True), _arr(weight, "weight", dense=True)
    _cpu_conv("conv2d_grad_input", g, w, _arr(out, "out", dense=True), _pair(stride), _pair(padding),
              _pair(dilation), int(groups))
    return out


def conv2d_grad_weight(input, grad_output, weight_shape, stride=1, padding=0, dilation=1, groups=1, *, out=None,
                       stream=None):
    x, g = _arr(input, "input", dense=True), _arr(grad_output, "grad_output", dense=True)
    _cpu_conv("conv2d_grad_weight", x, g, _arr(out, "out", dense=True), _pair(stride), _pair(padding),
              _pair(dilation), int(groups))
    return out


def _pool_shape(tfc, x, k, s, p, d, ceil_mode):
    k, s, p, d = tfc._pool_args(k, s, p, d)
    n, c, h, w = x.shape
    return k, s, p, d, (n, c, tfc._pool_out(h, k[0], s[0], p[0], d[0], ceil_mode),
                        tfc._pool_out(w, k[1], s[1], p[1], d[1], ceil_mode))


def _fake(shape, dtype=np.float32):
    return fake_cupy.ndarray(np.empty(shape, dtype))


def make_pools(tfc):
    def max_pool2d_forward(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, *, stream=None):
        x = _arr(input, "input", dense=True)
        k, s, p, d, shape = _pool_shape(tfc, x, kernel_size, stride, padding, dilation, ceil_mode)
        out, idx = _fake(shape), _fake(shape, np.int64)
        _cpu_conv("max_pool2d_forward", x, out._a, idx._a, k, s, p, d)
        return out, idx

    def max_pool2d_backward(grad_output, indices, input_shape, kernel_size, stride=None, padding=0, dilation=1, *,
                            stream=None):
        g = _arr(grad_output, "grad_output", dense=True)
        idx = _arr(indices, "indices", f32=False, dense=True)
        dx = _fake(tuple(input_shape))
        _cpu_conv("max_pool2d_backward", g, idx, dx._a)
        return dx

    def avg_pool2d_forward(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                           divisor_override=None, *, stream=None):
        x = _arr(input, "input", dense=True)
        k, s, p, _, shape = _pool_shape(tfc, x, kernel_size, stride, padding, 1, ceil_mode)
        out = _fake(shape)
        _cpu_conv("avg_pool2d_forward", x, out._a, k, s, p, bool(count_include_pad), int(divisor_override or 0))
        return out

    def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0, count_include_pad=True,
                            divisor_override=None, *, stream=None):
        g = _arr(grad_output, "grad_output", dense=True)
        k, s, p, _ = tfc._pool_args(kernel_size, stride, padding, 1)
        dx = _fake(tuple(input_shape))
        _cpu_conv("avg_pool2d_backward", g, dx._a, k, s, p, bool(count_include_pad), int(divisor_override or 0))
        return dx

    return dict(max_pool2d_forward=max_pool2d_forward, max_pool2d_backward=max_pool2d_backward,
                avg_pool2d_forward=avg_pool2d_forward, avg_pool2d_backward=avg_pool2d_backward)


def _attention_inputs(query, key, value, attn_mask):
    q, k, v = (_arr(t, n) for t, n in ((query, "query"), (key, "key"), (value, "value")))
    for a, n in ((q, "query"), (k, "key"), (v, "value")):
        if a.ndim != 4 or a.strides[-1] != a.itemsize:
            raise ValueError(f"{n} must be 4-D (B, H, L, E) and contiguous along its last dimension")
    if q.shape[-1] > 128:
        raise ValueError("attention: head dimension > 128 is not supported")
    m = None
    if attn_mask is not None:
        m = _arr(attn_mask, "attn_mask", f32=False)
        if m.dtype not in (np.float32, np.bool_):
            raise TypeError(f"attn_mask must be float32 or bool, got {m.dtype}")
    return q.astype(np.float64), k.astype(np.float64), v.astype(np.float64), m


def _scores(q, k, m, is_causal, scale):
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = scale * q @ np.swapaxes(k, -1, -2)
    if m is not None:
        s = np.where(m, s, -np.inf) if m.dtype == np.bool_ else s + m
    if is_causal:
        L, S = s.shape[-2:]
        s = np.where(np.tril(np.ones((L, S), bool)), s, -np.inf)
    return s, scale


def _round_sig(x, bits, ties_away):
    """x rounded to `bits` significant bits (frexp / ldexp): ties away from zero or to even."""
    m, ex = np.frexp(x)
    y = np.ldexp(m, bits)
    y = np.sign(y) * np.floor(np.abs(y) + 0.5) if ties_away else np.rint(y)
    return np.ldexp(y, ex - bits)


def _attention_precision(precision, e, *arrays):
    """The operands as the real binding's kernel sees them: rounded to tf32 (precision "high", head dims
    <= 64) or bfloat16 ("medium", <= 128) where the tensor-core kernel covers them, else unchanged."""
    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"precision must be 'highest', 'high' or 'medium', got {precision!r}")
    if precision == "high" and e <= 64:
        return tuple(_round_sig(a, 11, True) for a in arrays)
    if precision == "medium" and e <= 128:
        return tuple(_round_sig(a, 8, False) for a in arrays)
    return arrays


def attention_forward(query, key, value, attn_mask=None, is_causal=False, scale=None, *, precision="highest",
                      stream=None):
    q, k, v, m = _attention_inputs(query, key, value, attn_mask)
    q, k, v = _attention_precision(precision, q.shape[-1], q, k, v)
    s, _ = _scores(q, k, m, is_causal, scale)
    mx = np.max(s, -1, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0)
    e = np.exp(s - mx)
    tot = e.sum(-1, keepdims=True)
    p = np.where(tot > 0, e / np.where(tot > 0, tot, 1), 0)
    lse = (np.log(np.where(tot > 0, tot, 1)) + mx)[..., 0]
    return (fake_cupy.ndarray((p @ v).astype(np.float32)), fake_cupy.ndarray(lse.astype(np.float32)))


def attention_backward(grad_out, query, key, value, out, lse, attn_mask=None, is_causal=False, scale=None, *,
                       precision="highest", stream=None):
    q, k, v, m = _attention_inputs(query, key, value, attn_mask)
    do = _arr(grad_out, "grad_out").astype(np.float64)
    o = _arr(out, "out").astype(np.float64)
    q, k, v, rdo = _attention_precision(precision, q.shape[-1], q, k, v, do)
    s, scale = _scores(q, k, m, is_causal, scale)
    p = np.exp(s - _arr(lse, "lse").astype(np.float64)[..., None])
    dv = np.swapaxes(p, -1, -2) @ rdo
    dp = rdo @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (do * o).sum(-1, keepdims=True))
    dq = scale * ds @ k
    dk = scale * np.swapaxes(ds, -1, -2) @ q
    return tuple(fake_cupy.ndarray(x.astype(np.float32)) for x in (dq, dk, dv))


def layer_norm_forward(x, normalized_size, weight=None, bias=None, eps=1e-5, *, stream=None):
    X = _arr(x, "x", dense=True).reshape(-1, normalized_size).astype(np.float64)
    mean = X.mean(-1)
    rstd = 1.0 / np.sqrt(((X - mean[:, None]) ** 2).mean(-1) + eps)
    y = (X - mean[:, None]) * rstd[:, None]
    if weight is not None:
        y = y * _arr(weight, "weight", dense=True)
    if bias is not None:
        y = y + _arr(bias, "bias", dense=True)
    return tuple(fake_cupy.ndarray(a.astype(np.float32)) for a in (y.reshape(x.shape), mean, rstd))


def layer_norm_backward(grad_output, x, normalized_size, mean, rstd, weight=None, *, need_input_grad=True,
                        need_weight_grad=True, need_bias_grad=True, stream=None):
    X = _arr(x, "x", dense=True).reshape(-1, normalized_size).astype(np.float64)
    G = _arr(grad_output, "grad_output", dense=True).reshape(X.shape).astype(np.float64)
    M, R = _arr(mean, "mean", dense=True)[:, None], _arr(rstd, "rstd", dense=True)[:, None]
    xhat = (X - M) * R
    gx = G * (1.0 if weight is None else _arr(weight, "weight", dense=True))
    dx = R * (gx - gx.mean(-1, keepdims=True) - xhat * (gx * xhat).mean(-1, keepdims=True))
    out = (dx.reshape(x.shape) if need_input_grad else None, (G * xhat).sum(0) if need_weight_grad else None,
           G.sum(0) if need_bias_grad else None)
    return tuple(None if a is None else fake_cupy.ndarray(a.astype(np.float32)) for a in out)


def _gelu_slope(x, approximate):
    from math import erf, pi, sqrt

    if approximate == "tanh":
        t = np.tanh(sqrt(2 / pi) * (x + 0.044715 * x ** 3))
        return 0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * sqrt(2 / pi) * (1 + 3 * 0.044715 * x * x)
    cdf = 0.5 * (1 + np.vectorize(erf, otypes=[np.float64])(x / sqrt(2)))
    return x * cdf, cdf + x * np.exp(-0.5 * x * x) / sqrt(2 * pi)


def gelu_forward(x, approximate="none", *, stream=None):
    y, _ = _gelu_slope(_arr(x, "x", dense=True).astype(np.float64), approximate)
    return fake_cupy.ndarray(y.astype(np.float32))


def gelu_backward(grad_output, x, approximate="none", *, stream=None):
    _, slope = _gelu_slope(_arr(x, "x", dense=True).astype(np.float64), approximate)
    return fake_cupy.ndarray((slope * _arr(grad_output, "grad_output", dense=True)).astype(np.float32))


def softmax_forward(x, log=False, *, stream=None):
    X = _arr(x, "x", dense=True).astype(np.float64)
    if X.ndim == 0:
        raise ValueError("x must have at least one dimension")
    m = X.max(-1, keepdims=True)
    e = np.exp(X - m)
    y = (X - m) - np.log(e.sum(-1, keepdims=True)) if log else e / e.sum(-1, keepdims=True)
    return fake_cupy.ndarray(y.astype(np.float32))


def softmax_backward(grad_output, y, log=False, *, stream=None):
    Y = _arr(y, "y", dense=True).astype(np.float64)
    G = _arr(grad_output, "grad_output", dense=True).astype(np.float64)
    if G.shape != Y.shape:
        raise ValueError("grad_output must have the shape of y")
    dx = G - np.exp(Y) * G.sum(-1, keepdims=True) if log else Y * (G - (G * Y).sum(-1, keepdims=True))
    return fake_cupy.ndarray(dx.astype(np.float32))


def _ce_inputs(input, target, weight):
    X = _arr(input, "input", dense=True)
    T = _arr(target, "target", f32=False, dense=True)
    if X.ndim != 2 or T.dtype != np.int64 or T.shape != X.shape[:1]:
        raise ValueError("input must be (N, C) float32 and target (N,) int64 (fake cuda stand-in)")
    W = None if weight is None else _arr(weight, "weight", dense=True)
    if W is not None and W.shape != X.shape[1:]:
        raise ValueError("weight must have shape (C,)")
    return X.astype(np.float64), T, W


def _ce_coef(X, T, W, ignore_index, label_smoothing):
    """(coef (N, C), valid rows, row weights): loss_r = sum_c coef_rc * (lse_r - x_rc)."""
    n, c = X.shape
    valid = T != ignore_index
    bad = valid & ((T < 0) | (T >= c))
    w = np.ones(c) if W is None else W.astype(np.float64)
    row_w = np.where(valid & ~bad, w[np.clip(T, 0, c - 1)], 0.0)
    coef = np.zeros((n, c))
    rows = np.flatnonzero(valid & ~bad)
    coef[rows, T[rows]] = (1 - label_smoothing) * row_w[rows]
    coef[rows] += label_smoothing / c * w
    return coef, bad, row_w


def cross_entropy_forward(input, target, weight=None, ignore_index=-100, label_smoothing=0.0, *,
                          check_targets=True, stream=None):
    X, T, W = _ce_inputs(input, target, weight)
    coef, bad, row_w = _ce_coef(X, T, W, ignore_index, label_smoothing)
    if check_targets and bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise IndexError(f"cross_entropy: target {int(T[row])} is out of bounds for {X.shape[1]} classes "
                         f"(row {row}; ignore_index is {ignore_index})")
    m = X.max(1, keepdims=True)
    log_sum = np.log(np.exp(X - m).sum(1, keepdims=True))
    loss = (coef * ((m + log_sum) - X)).sum(1)
    stats = np.concatenate([m, log_sum], axis=1)
    loss[bad], stats[bad] = np.nan, np.nan  # the kernel's rows with an out-of-range target
    return tuple(fake_cupy.ndarray(a.astype(np.float32)) for a in (loss, stats, row_w))


def cross_entropy_backward(grad_output, input, target, stats, weight=None, ignore_index=-100, label_smoothing=0.0,
                           *, stream=None):
    X, T, W = _ce_inputs(input, target, weight)
    S = _arr(stats, "stats", dense=True).astype(np.float64)
    G = _arr(grad_output, "grad_output", dense=True).astype(np.float64)
    if S.shape != (X.shape[0], 2) or G.shape not in ((), X.shape[:1]):
        raise ValueError("stats must be (N, 2) and grad_output 0-d or (N,)")
    coef, bad, _ = _ce_coef(X, T, W, ignore_index, label_smoothing)
    p = np.exp((X - S[:, :1]) - S[:, 1:])
    live = (T != ignore_index) & ~bad  # ignored rows get zeros without reading the gradient (the kernel's rule)
    dx = np.zeros_like(X)
    dx[bad] = np.nan
    dx[live] = (np.broadcast_to(G.reshape(-1, 1), (X.shape[0], 1)) * (p * coef.sum(1, keepdims=True) - coef))[live]
    return fake_cupy.ndarray(dx.astype(np.float32))


KERNELS = ("tensor_core_path", "gemm", "adamw_step", "adam_step", "conv2d_forward", "conv2d_grad_input", "conv2d_grad_weight",
           "attention_forward", "attention_backward", "layer_norm_forward", "layer_norm_backward", "gelu_forward",
           "gelu_backward", "softmax_forward", "softmax_backward", "cross_entropy_forward", "cross_entropy_backward")


def install(monkeypatch):
    """Makes "cuda" the stand-in device for the rest of the test (monkeypatch undoes it)."""
    import tensorforge.cuda as tfc

    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.setitem(sys.modules, "cupyx", types.SimpleNamespace(scatter_add=fake_cupy.cupyx.scatter_add))
    monkeypatch.setattr(tfc, "is_built", lambda: True)
    monkeypatch.setattr(tfc, "device_count", lambda: 1)
    monkeypatch.setattr(tfc, "is_available", lambda: True)
    monkeypatch.setattr(tfc, "synchronize", lambda: None)
    this = sys.modules[__name__]
    for name in KERNELS:
        monkeypatch.setattr(tfc, name, getattr(this, name))
    for name, fn in make_pools(tfc).items():
        monkeypatch.setattr(tfc, name, fn)
    from tensorforge import _creation

    monkeypatch.setattr(_creation, "_cuda_states", {})
