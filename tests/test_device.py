"""Tensors on "cuda": creation, moves, errors, every op family, autograd, layers, optimizers, the training
loop and checkpoints, each compared with the same computation on the CPU.

The `device` fixture (conftest.py) runs each test on "cpu" and on "cuda": a real GPU where one is
visible (bench/gpu_suite.sh runs this file there), else the numpy-backed stand-in (ids say
cuda-standin), whose arrays refuse implicit conversion to numpy, so an op that calls numpy on device
data, hands a device array to a CPU kernel or mixes devices fails here.
"""
import numpy as np
import pytest

import tensorforge as tf
import tensorforge.nn as nn
import tensorforge.nn.functional as F
from tensorforge import _precision
from tensorforge._backend import xp
from conftest import REAL_CUDA


def host(t):
    """A CPU numpy copy of a tensor (explicit, via .cpu())."""
    return t.detach().cpu().numpy()


def on(t, device):
    """The tensor's data lives on `device` and is an array of that device's library."""
    assert t.device.type == tf.device(device).type, (t.device, device)
    assert (xp(t._data) is np) == (tf.device(device).type == "cpu")


def leaf(a, device, dtype=None):
    t = tf.tensor(a, dtype=dtype, device=device)
    return t.requires_grad_() if t.is_floating_point() else t


def compare(fn, arrays, device, rtol=1e-5, atol=1e-6, grads=True):
    """fn on CPU tensors and on `device` tensors made from the same arrays: outputs and (when grads)
    gradients of sum(out * w) for a random w must match, and everything must live on `device`."""
    results = []
    for dev in ("cpu", device):
        ins = [leaf(a, dev) if isinstance(a, np.ndarray) else a for a in arrays]
        out = fn(*ins)
        outs = out if isinstance(out, tuple) else (out,)
        for o in outs:
            on(o, dev)
        grads_ = []
        if grads:
            total = None
            for o in outs:
                if o.requires_grad:
                    w = tf.tensor(np.random.default_rng(1).standard_normal(o.shape).astype(host(o).dtype), device=dev)
                    term = (o * w).sum()
                    total = term if total is None else total + term
            if total is not None:
                total.backward()
                for t in ins:
                    if isinstance(t, tf.Tensor) and t.requires_grad:
                        assert t.grad is not None
                        on(t.grad, dev)
                        grads_.append(host(t.grad))
        results.append(([host(o) for o in outs], grads_))
    (co, cg), (do, dg) = results
    for a, b in zip(co + cg, do + dg):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=atol)
    return results


def randn(rng, *shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


# ---- creation and moves ---------------------------------------------------------------------------------
CREATORS = [
    lambda d: tf.tensor([[1.0, 2.0], [3.0, 4.0]], device=d),
    lambda d: tf.zeros(2, 3, device=d),
    lambda d: tf.ones((2, 3), dtype=tf.float64, device=d),
    lambda d: tf.empty(4, device=d),
    lambda d: tf.full((2, 2), 7, device=d),
    lambda d: tf.randn(3, 4, device=d),
    lambda d: tf.rand(3, 4, device=d),
    lambda d: tf.randint(0, 5, (6,), device=d),
    lambda d: tf.arange(0, 5, device=d),
    lambda d: tf.arange(0.0, 1.0, 0.25, device=d),
    lambda d: tf.linspace(0, 1, 5, device=d),
    lambda d: tf.eye(3, device=d),
    lambda d: tf.as_tensor(np.ones(3, np.float32), device=d),
]


@pytest.mark.parametrize("make", CREATORS)
def test_creation_functions_place_on_device(device, make):
    t = make(device)
    on(t, device)
    assert str(t.device).startswith(device)


def test_like_functions_follow_their_input(device):
    x = tf.randn(2, 3, device=device)
    for fn in (tf.zeros_like, tf.ones_like, tf.empty_like, tf.rand_like, tf.randn_like):
        on(fn(x), device)
    on(tf.full_like(x, 3.0), device)
    on(tf.randint_like(x, 0, 4), device)
    on(tf.zeros_like(x, device="cpu"), "cpu")
    on(x.new_zeros(2), device)


def test_creation_values_match_cpu(device):
    for make in (CREATORS[0], CREATORS[1], CREATORS[4], CREATORS[8], CREATORS[9], CREATORS[10], CREATORS[11]):
        np.testing.assert_array_equal(host(make(device)), host(make("cpu")))


def test_random_on_device_is_seeded(device):
    tf.manual_seed(3)
    a = host(tf.randn(5, device=device))
    tf.manual_seed(3)
    b = host(tf.randn(5, device=device))
    np.testing.assert_array_equal(a, b)


def test_to_cuda_cpu_roundtrip(device, rng):
    a = randn(rng, 3, 5)
    t = tf.tensor(a)
    d = t.to(device)
    on(d, device)
    assert d.to(device) is d  # already there: no copy
    assert t.to(tf.device(device)).device.type == device
    np.testing.assert_array_equal(d.cpu().numpy(), a)
    like = tf.zeros(1, device=device, dtype=tf.float64)
    moved = t.to(like)
    on(moved, device)
    assert moved.dtype == tf.float64
    if device == "cuda":
        on(t.cuda(), "cuda")
        on(t.cuda(0), "cuda")
        assert str(t.cuda().device) == "cuda:0"


def test_to_keeps_the_graph(device, rng):
    x = tf.tensor(randn(rng, 4), requires_grad=True)
    y = (x.to(device) * 2).sum()
    y.backward()
    on(x.grad, "cpu")
    np.testing.assert_allclose(host(x.grad), 2.0)


def test_pickle_keeps_the_device(device, rng):
    import pickle

    a = randn(rng, 3, 4)
    back = pickle.loads(pickle.dumps(tf.tensor(a, device=device, requires_grad=True)))
    on(back, device)
    assert back.requires_grad and back.is_leaf
    np.testing.assert_array_equal(host(back), a)
    p = pickle.loads(pickle.dumps(nn.Parameter(tf.tensor(a, device=device))))
    assert isinstance(p, nn.Parameter) and p.requires_grad
    on(p, device)
    np.testing.assert_array_equal(host(p), a)


def test_cuda_memory_queries(device):
    """tensorforge.cuda.memory_allocated / memory_reserved / empty_cache: cupy's pool with torch.cuda's names."""
    mib = 1 << 20
    before = tf.cuda.memory_allocated()
    t = tf.zeros(4 * mib // 4, device=device)  # 4 MiB of float32
    grown = tf.cuda.memory_allocated() - before
    if device == "cpu":
        assert grown == 0
        tf.cuda.empty_cache()
        return
    assert grown >= 4 * mib and tf.cuda.memory_allocated(0) == tf.cuda.memory_allocated("cuda:0")
    del t
    assert tf.cuda.memory_allocated() <= before + mib  # the tensor's memory is free for reuse ...
    assert tf.cuda.memory_reserved() >= before + 4 * mib  # ... but still held by the pool
    tf.cuda.empty_cache()
    assert tf.cuda.memory_reserved() < before + 4 * mib + mib
    with pytest.raises(ValueError, match="expected a CUDA device"):
        tf.cuda.memory_allocated("cpu")


def test_numpy_of_a_cuda_tensor_is_pytorchs_error(device):
    t = tf.ones(3, device=device)
    if device == "cpu":
        assert t.numpy().shape == (3,)
        return
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu()"):
        t.numpy()
    with pytest.raises(TypeError, match="can't convert"):
        np.asarray(t)
    assert t.tolist() == [1.0, 1.0, 1.0] and float(t.sum()) == 3.0  # explicit scalars/lists are fine


def test_mixing_devices_is_a_clear_error(device):
    if device == "cpu":
        pytest.skip("needs a second device")
    a, b = tf.ones(3, device="cuda"), tf.ones(3)
    msg = "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"
    for fn in (lambda: a + b, lambda: b * a, lambda: tf.ones(3, 3, device="cuda") @ tf.ones(3, 3),
               lambda: tf.where(a > 0, a, b), lambda: tf.cat([a, b]), lambda: tf.stack([b, a]), lambda: a.add_(b), lambda: F.linear(tf.ones(2, 3), tf.ones(4, 3, device="cuda")),
               lambda: F.conv2d(tf.ones(1, 1, 4, 4, device="cuda"), tf.ones(1, 1, 3, 3))):
        with pytest.raises(RuntimeError, match=msg.replace("!", "")):
            fn()


def test_cpu_scalar_tensors_join_cuda_tensors(device):
    a = tf.ones(3, device=device)
    for y in (a * tf.tensor(2.0), tf.tensor(2.0) * a, a + tf.tensor(1), a.add_(tf.tensor(0.0))):
        on(y, device)
        assert host(y)[0] in (1.0, 2.0)
    if device == "cuda":
        with pytest.raises(RuntimeError, match="same device"):
            a * tf.tensor(2.0, requires_grad=True)  # its gradient would have to come back to the CPU


def test_repr_of_device_tensor(device):
    r = repr(tf.tensor([1.5, 2.0], device=device))
    assert "1.5" in r
    assert ("device='cuda:0'" in r) == (device == "cuda")


# ---- ops --------------------------------------------------------------------------------------------------
UNARY = {
    "exp": lambda x: x.exp(), "log": lambda x: (x.abs() + 1).log(), "sqrt": lambda x: (x.abs() + 1).sqrt(),
    "tanh": lambda x: x.tanh(), "sigmoid": lambda x: x.sigmoid(), "relu": lambda x: x.relu(),
    "gelu": lambda x: F.gelu(x), "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"), "erf": lambda x: x.erf(),
    "silu": lambda x: F.silu(x), "leaky_relu": lambda x: F.leaky_relu(x, 0.1), "elu": lambda x: F.elu(x),
    "softplus": lambda x: F.softplus(x), "hardtanh": lambda x: F.hardtanh(x * 2), "relu6": lambda x: F.relu6(x * 4),
    "mish": lambda x: F.mish(x), "logsigmoid": lambda x: F.logsigmoid(x), "glu": lambda x: F.glu(x[:, :4]),
    "dropout2d_eval": lambda x: F.dropout2d(x[None], 0.5, training=False), "smooth_l1": lambda x: F.smooth_l1_loss(x, x.t().t() * 0.5),
    "abs": lambda x: x.abs(), "neg": lambda x: -x,
    "clamp": lambda x: x.clamp(-0.5, 0.5), "pow": lambda x: x ** 2, "rsqrt": lambda x: (x.abs() + 1).rsqrt(),
    "sin": lambda x: x.sin(), "softmax": lambda x: x.softmax(-1), "log_softmax": lambda x: x.log_softmax(1),
    "logsumexp": lambda x: x.logsumexp(-1), "sum": lambda x: x.sum(0), "mean": lambda x: x.mean(),
    "var": lambda x: x.var(1), "std": lambda x: x.std(), "max": lambda x: x.max(1)[0], "amax": lambda x: x.amax(0),
    "min": lambda x: x.min(), "prod": lambda x: x.prod(1),
    "dropout_eval": lambda x: F.dropout(x, 0.5, training=False),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_and_reductions(device, rng, name):
    compare(UNARY[name], [randn(rng, 3, 5)], device, rtol=2e-5, atol=2e-6)


BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / (b.abs() + 1),
    "pow": lambda a, b: (a.abs() + 1) ** b, 
    "where": lambda a, b: tf.where(a > b, a, b), "scalar": lambda a, b: 2.0 * a - b / 3 + 1,
    "masked_fill": lambda a, b: a.masked_fill(b > 0, 0.0) + b, "cat": lambda a, b: tf.cat([a, b], 0),
    "stack": lambda a, b: tf.stack([a, b], 1),
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_with_broadcast(device, rng, name):
    compare(BINARY[name], [randn(rng, 4, 3), randn(rng, 3)], device) if name not in ("cat", "stack") else \
        compare(BINARY[name], [randn(rng, 4, 3), randn(rng, 4, 3)], device)


def test_comparisons_and_argmax(device, rng):
    a, b = randn(rng, 4, 5), randn(rng, 4, 5)
    for fn in (lambda x, y: x > y, lambda x, y: x == x, lambda x, y: (x > 0) & (y > 0), lambda x, y: x.argmax(1),
               lambda x, y: x.argmin(), lambda x, y: tf.isnan(x) | tf.isinf(y)):
        compare(fn, [a, b], device, grads=False)


SHAPE = {
    "reshape": lambda x: x.reshape(5, 3), "transpose": lambda x: x.t() * 1, "permute": lambda x: x[None].permute(2, 0, 1),
    "getitem": lambda x: x[1:, ::2], "index_list": lambda x: x[[0, 2, 2]], "bool_index": lambda x: x[x > 0],
    "expand": lambda x: x[:, None, :].expand(3, 2, 5), "flatten": lambda x: x[None].flatten(),
    "split": lambda x: x.split(2, 1)[1], "chunk": lambda x: x.chunk(3, 0)[2], "squeeze": lambda x: x[:, None].squeeze(1),
    "gather": lambda x: x.gather(1, tf.tensor([[0, 1], [2, 3], [4, 0]], device=x.device)),
    "tensor_index": lambda x: x[tf.tensor([2, 0], device=x.device)],
    "contiguous": lambda x: x.t().contiguous(),
}


@pytest.mark.parametrize("name", sorted(SHAPE))
def test_shape_and_indexing(device, rng, name):
    compare(SHAPE[name], [randn(rng, 3, 5)], device)


def test_setitem_and_inplace(device, rng):
    def fn(x):
        y = x * 1
        y[0] = 0.0
        y[1, 1:3] = tf.tensor([5.0, 6.0], device=x.device)
        y[y < -1] = -1.0
        y.add_(1).mul_(2).clamp_(-3, 3)
        return y

    compare(fn, [randn(rng, 3, 4)], device)
    t = tf.zeros(3, device=device)
    t.fill_(2).uniform_(0, 1)
    on(t, device)
    t.normal_()
    t.copy_(tf.ones(3))  # copy_ from another device is allowed, like PyTorch
    np.testing.assert_array_equal(host(t), 1.0)


MATMUL = [((5, 7), (7, 3)), ((7,), (7, 3)), ((5, 7), (7,)), ((2, 5, 7), (7, 3)), ((2, 5, 7), (2, 7, 3)),
          ((2, 1, 5, 7), (3, 7, 4)), ((1, 5, 7), (7, 3))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", MATMUL, ids=str)
def test_matmul_shapes(device, rng, shapes, dtype):
    a, b = randn(rng, *shapes[0], dtype=dtype), randn(rng, *shapes[1], dtype=dtype)
    compare(lambda x, y: x @ y, [a, b], device, rtol=1e-5, atol=1e-5)


def test_matmul_transposed_views(device, rng):
    compare(lambda x, y: x.t() @ y.t(), [randn(rng, 7, 5), randn(rng, 3, 7)], device, rtol=1e-5, atol=1e-5)
    compare(lambda x, y: x.mT @ y, [randn(rng, 2, 7, 5), randn(rng, 2, 7, 3)], device, rtol=1e-5, atol=1e-5)
    compare(lambda x, y: F.linear(x, y, None), [randn(rng, 4, 6), randn(rng, 5, 6)], device, rtol=1e-5, atol=1e-5)


def test_integer_matmul(device):
    a = np.arange(6).reshape(2, 3)
    compare(lambda x: x @ x.t(), [a], device, grads=False)


def test_conv2d_and_pooling(device, rng):
    x, w, b = randn(rng, 2, 3, 9, 8), randn(rng, 4, 3, 3, 3), randn(rng, 4)
    compare(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), [x, w, b], device, rtol=1e-4, atol=1e-5)
    compare(lambda x, w: F.conv2d(x, w, padding="same"), [x, randn(rng, 4, 3, 2, 2)], device, rtol=1e-4, atol=1e-5)
    compare(lambda x: F.max_pool2d(x, 2), [x], device)
    compare(lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True), [x], device)
    compare(lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), [x], device)
    compare(lambda x: F.adaptive_avg_pool2d(x, (3, 4)), [randn(rng, 2, 3, 9, 8)], device)
    compare(lambda x: F.adaptive_avg_pool2d(x, 1), [x], device)
    compare(lambda x: F.adaptive_avg_pool2d(x, (4, 3)), [x], device)  # windows of unequal size, overlapping
    compare(lambda x: F.adaptive_avg_pool2d(x, (9, 11)), [x], device)  # output larger than the input


def test_conv2d_and_pooling_in_float64(device, rng):
    """float64 on CUDA runs the composed path (ops/spatial_composed.py), on the CPU our kernels."""
    x = randn(rng, 2, 4, 9, 8, dtype=np.float64)
    w, b = randn(rng, 6, 2, 3, 2, dtype=np.float64), randn(rng, 6, dtype=np.float64)
    compare(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
            [x, w, b], device, rtol=1e-12, atol=1e-12)
    compare(lambda x, w: F.conv2d(x, w, padding="same"), [x, randn(rng, 3, 4, 2, 2, dtype=np.float64)], device,
            rtol=1e-12, atol=1e-12)
    compare(lambda x: F.max_pool2d(x, 3, stride=2, padding=1, dilation=1, ceil_mode=True), [x], device)
    compare(lambda x: F.max_pool2d(x, 2, dilation=2), [x], device)
    compare(lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), [x], device)
    compare(lambda x: F.avg_pool2d(x, 2, divisor_override=3), [x], device)
    t = tf.tensor(randn(rng, 1, 2, 5, 5, dtype=np.float64), device=device, requires_grad=True)
    k = tf.tensor(randn(rng, 2, 2, 3, 3, dtype=np.float64), device=device, requires_grad=True)
    assert tf.autograd.gradcheck(lambda t, k: F.avg_pool2d(F.conv2d(t, k, padding=1), 2), (t, k))


@pytest.mark.parametrize("case", ["plain", "causal", "bool_mask", "float_mask", "broadcast", "cross", "long_head"])
def test_scaled_dot_product_attention(device, rng, case):
    q, k, v = randn(rng, 2, 3, 5, 8), randn(rng, 2, 3, 7, 8), randn(rng, 2, 3, 7, 8)
    kw = {}
    if case == "causal":
        k, v = randn(rng, 2, 3, 5, 8), randn(rng, 2, 3, 5, 8)
        kw["is_causal"] = True
    if case == "bool_mask":
        kw["attn_mask"] = rng.random((5, 7)) > 0.3
        kw["attn_mask"][:, 0] = True
    if case == "float_mask":
        kw["attn_mask"] = randn(rng, 3, 5, 7)
    if case == "broadcast":
        k, v = randn(rng, 1, 3, 7, 8), randn(rng, 3, 7, 8)
    if case == "cross":
        v = randn(rng, 2, 3, 7, 4)
    if case == "long_head":
        q, k, v = randn(rng, 1, 2, 3, 130), randn(rng, 1, 2, 4, 130), randn(rng, 1, 2, 4, 130)

    def fn(q, k, v):
        m = kw.get("attn_mask")
        extra = dict(kw, attn_mask=None if m is None else tf.tensor(m, device=q.device))
        return F.scaled_dot_product_attention(q, k, v, **extra)

    compare(fn, [q, k, v], device, rtol=1e-4, atol=1e-5)


def _round_sig(x, bits, ties_away):
    m, ex = np.frexp(x)
    y = np.ldexp(m, bits)
    return np.ldexp(np.sign(y) * np.floor(np.abs(y) + 0.5) if ties_away else np.rint(y), ex - bits)


def _attention_ref64(q, k, v, w, wd, causal):
    """float64 o = softmax(q k^T / sqrt(E)) v and the gradients of sum(o * w) with respect to q, k, v (w as
    the products take it, wd in rowsum(w * o))."""
    scale = 1 / np.sqrt(q.shape[-1])
    s = scale * q @ np.swapaxes(k, -1, -2)
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    o = p @ v
    ds = p * (w @ np.swapaxes(v, -1, -2) - (wd * o).sum(-1, keepdims=True))
    return o, scale * ds @ k, scale * np.swapaxes(ds, -1, -2) @ q, np.swapaxes(p, -1, -2) @ w


@pytest.mark.parametrize("precision,bits,ties_away,tol", [("high", 11, True, 3e-3), ("medium", 8, False, 2e-2)])
def test_sdpa_follows_float32_matmul_precision(device, rng, monkeypatch, precision, bits, ties_away, tol):
    """F.scaled_dot_product_attention on CUDA takes tensorforge.set_float32_matmul_precision: tf32 /
    bf16 products (operands rounded, float32 accumulation), the forward's precision kept for the backward.
    The CPU path does not read it."""
    tfc = tf.cuda
    assert tfc.get_float32_matmul_precision() == "highest"
    with pytest.raises(ValueError, match="precision must be one of"):
        tfc.set_float32_matmul_precision("low")
    monkeypatch.setattr(_precision, "_current", "highest")  # undone after the test
    q, k, v, w = (randn(rng, 2, 3, 37, 64) for _ in range(4))
    tfc.set_float32_matmul_precision(precision)
    qt, kt, vt = (leaf(a, device) for a in (q, k, v))
    out = F.scaled_dot_product_attention(qt, kt, vt, is_causal=True)
    tfc.set_float32_matmul_precision("highest")  # the backward keeps the forward's precision
    (out * tf.tensor(w, device=device)).sum().backward()
    got = [host(t) for t in (out, qt.grad, kt.grad, vt.grad)]
    q, k, v, w = (a.astype(np.float64) for a in (q, k, v, w))
    exact = _attention_ref64(q, k, v, w, w, True)
    rounded = exact if device == "cpu" else _attention_ref64(
        *(_round_sig(a, bits, ties_away) for a in (q, k, v, w)), w, True)
    for g, r, e in zip(got, rounded, exact):
        err = np.linalg.norm(g - r) / np.linalg.norm(r)
        assert err < (1e-5 if device == "cpu" else tol), err
        if device != "cpu" and not REAL_CUDA:  # the stand-in rounds exactly like the reference
            assert err < 1e-5 < np.linalg.norm(g - e) / np.linalg.norm(e)


@pytest.mark.parametrize("precision,bits,ties_away", [("high", 11, True), ("medium", 8, False)])
def test_matmul_follows_float32_matmul_precision(device, rng, monkeypatch, precision, bits, ties_away):
    """matmul / linear on CUDA float32 tensors take tensorforge.set_float32_matmul_precision: tf32 / bf16
    operands, float32 accumulation (the stand-in rounds exactly like the kernels); the CPU and float64
    stay exact, and "highest" is the default."""
    assert tf.get_float32_matmul_precision() == "highest" and tf.cuda.get_float32_matmul_precision is \
        tf.get_float32_matmul_precision
    monkeypatch.setattr(_precision, "_current", "highest")  # undone after the test
    a, b, w = randn(rng, 3, 33, 40), randn(rng, 40, 17), randn(rng, 17, 40)
    tf.set_float32_matmul_precision(precision)
    got = host(tf.tensor(a, device=device) @ tf.tensor(b, device=device))
    lin = host(F.linear(tf.tensor(a, device=device), tf.tensor(w, device=device)))
    exact64 = host(tf.tensor(a, dtype=tf.float64, device=device) @ tf.tensor(b, dtype=tf.float64, device=device))
    a64, b64, w64 = (x.astype(np.float64) for x in (a, b, w))
    exact = a64 @ b64
    np.testing.assert_allclose(exact64, exact, rtol=1e-12)
    if device == "cpu" or REAL_CUDA:
        ref, ref_lin = exact, a64 @ w64.T
        tol = 1e-5 if device == "cpu" else (3e-3 if precision == "high" else 2e-2)
    else:
        r = lambda x: _round_sig(x, bits, ties_away)  # noqa: E731
        ref, ref_lin, tol = r(a64) @ r(b64), r(a64) @ r(w64).T, 1e-6
        assert np.linalg.norm(got - exact) / np.linalg.norm(exact) > 10 * tol  # the rounding is visible
    for g, e in ((got, ref), (lin, ref_lin)):
        assert np.linalg.norm(g - e) / np.linalg.norm(e) < tol


# ---- losses, layers ---------------------------------------------------------------------------------------
def test_losses(device, rng):
    x, t = randn(rng, 6, 4), rng.integers(0, 4, 6)
    compare(lambda x, t: F.cross_entropy(x, t), [x, t], device)
    compare(lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1, reduction="none"), [x, t], device)
    compare(lambda x, t: F.nll_loss(x.log_softmax(1), t), [x, t], device)
    compare(lambda x, y: F.mse_loss(x, y), [x, randn(rng, 6, 4)], device)
    compare(lambda x, y: F.l1_loss(x, y), [x, randn(rng, 6, 4)], device)
    compare(lambda x, y: F.binary_cross_entropy_with_logits(x, y), [x, rng.random((6, 4)).astype(np.float32)], device)
    compare(lambda x, y: F.binary_cross_entropy(x.sigmoid(), y), [x, rng.random((6, 4)).astype(np.float32)], device)
    compare(lambda x, y: F.huber_loss(x, y), [x, randn(rng, 6, 4)], device)


def _layer_case(name, rng):
    if name == "linear":
        return nn.Linear(6, 4), randn(rng, 3, 6)
    if name == "conv":
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(4 * 4 * 4, 3)), randn(rng, 2, 3, 8, 8)
    if name == "layernorm":
        return nn.Sequential(nn.LayerNorm(6), nn.GELU(), nn.Linear(6, 2)), randn(rng, 2, 5, 6)
    if name == "batchnorm1d":
        return nn.BatchNorm1d(6), randn(rng, 5, 6)
    if name == "embedding":
        return nn.Embedding(10, 4), rng.integers(0, 10, (3, 5))
    if name == "mha":
        return nn.MultiheadAttention(8, 2, batch_first=True), randn(rng, 2, 5, 8)
    if name == "transformer":
        return nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), randn(rng, 2, 5, 8)
    if name in ("lstm", "gru", "rnn"):
        cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[name]
        return cls(5, 4, num_layers=2, batch_first=True, bidirectional=name != "rnn"), randn(rng, 2, 3, 5)
    raise AssertionError(name)


def _out(y):
    if isinstance(y, tuple):
        y = y[0]
    return y


@pytest.mark.parametrize("name", ["linear", "conv", "layernorm", "batchnorm1d", "embedding", "mha", "transformer",
                                  "lstm", "gru", "rnn"])
def test_layers_forward_backward(device, rng, name):
    tf.manual_seed(0)
    model, x = _layer_case(name, rng)
    cpu_state = {k: host(v).copy() for k, v in model.state_dict().items()}
    results = []
    for dev in ("cpu", device):
        model.load_state_dict({k: tf.tensor(v) for k, v in cpu_state.items()})
        params_before = list(model.parameters())
        assert model.to(dev) is model
        assert list(model.parameters()) == params_before and all(
            a is b for a, b in zip(model.parameters(), params_before))  # identity kept, like PyTorch
        for p in model.parameters():
            on(p, dev)
        for _, b in model.named_buffers():
            on(b, dev)
        model.zero_grad()
        xin = tf.tensor(x, device=dev)
        if xin.is_floating_point():
            xin.requires_grad_()
        y = _out(model(xin) if name != "mha" else model(xin, xin, xin))
        on(y, dev)
        (y * y).sum().backward()
        grads = [host(p.grad) for p in model.parameters()]
        for p in model.parameters():
            on(p.grad, dev)
        results.append([host(y)] + grads + ([host(xin.grad)] if xin.requires_grad else []))
        model.to("cpu")
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=2e-4, atol=2e-5)


def test_masks_init_and_constructors_on_device(device, rng):
    mha = nn.MultiheadAttention(8, 2, batch_first=True).to(device)
    x = tf.tensor(randn(rng, 2, 5, 8), device=device)
    pad = np.zeros((2, 5), bool)
    pad[:, -1] = True
    y, w = mha(x, x, x, key_padding_mask=tf.tensor(pad, device=device), need_weights=True)
    on(y, device)
    on(w, device)
    on(mha(x, x, x, attn_mask=np.triu(np.ones((5, 5), bool), 1), need_weights=False)[0], device)
    on(mha(x, x, x, is_causal=True, attn_mask=np.triu(np.ones((5, 5), bool), 1))[0], device)
    lstm = nn.LSTM(3, 4, device=device)
    for p in lstm.parameters():
        on(p, device)
    p = nn.Parameter(tf.empty(3, 4, device=device))
    for init in (nn.init.xavier_uniform_, nn.init.kaiming_normal_, nn.init.orthogonal_, nn.init.zeros_,
                 nn.init.eye_):
        init(p)
        on(p, device)
    batch = tf.data.default_collate([tf.ones(2, device=device), tf.zeros(2, device=device)])
    on(batch, device)


def test_dropout_on_device(device):
    x = tf.ones(1000, device=device, requires_grad=True)
    y = F.dropout(x, 0.5, training=True)
    on(y, device)
    kept = host(y) != 0
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(host(y)[kept], 2.0)
    y.sum().backward()
    on(x.grad, device)


# ---- optimizers, training, checkpoints -------------------------------------------------------------------
@pytest.mark.parametrize("opt", ["sgd", "sgd_momentum", "adam", "adamw", "adam_amsgrad", "rmsprop", "adagrad"])
def test_optimizers_step_on_device(device, rng, opt):
    w0, g = randn(rng, 5, 3), randn(rng, 5, 3)
    results = []
    for dev in ("cpu", device):
        p = nn.Parameter(tf.tensor(w0))
        make = {"sgd": lambda ps: tf.optim.SGD(ps, lr=0.1),
                "sgd_momentum": lambda ps: tf.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                "adam": lambda ps: tf.optim.Adam(ps, lr=0.01, weight_decay=0.1),
                "adamw": lambda ps: tf.optim.AdamW(ps, lr=0.01),
                "adam_amsgrad": lambda ps: tf.optim.Adam(ps, lr=0.01, amsgrad=True),
                "rmsprop": lambda ps: tf.optim.RMSprop(ps, lr=0.01, momentum=0.5),
                "adagrad": lambda ps: tf.optim.Adagrad(ps, lr=0.1)}[opt]
        o = make([p])
        p.grad = tf.tensor(g)
        o.step()  # state created on the CPU ...
        m = nn.Linear(1, 1)
        m.w = p
        m.to(dev)  # ... then the parameter moves: the state follows on the next step
        p.grad = tf.tensor(g, device=dev)
        for _ in range(3):
            o.step()
        on(p, dev)
        for k, v in o.state[p].items():
            if isinstance(v, tf.Tensor) and k != "step":
                on(v, dev)
        results.append(host(p))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)


def test_clip_grad_norm_on_device(device, rng):
    p = nn.Parameter(tf.tensor(randn(rng, 4, 4), device=device))
    p.grad = tf.tensor(randn(rng, 4, 4) * 10, device=device)
    total = nn.utils.clip_grad_norm_([p], 1.0)
    on(total, device)
    assert float(total) > 1.0
    assert abs(float((p.grad * p.grad).sum().sqrt()) - 1.0) < 1e-4


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf"), 0.0])
def test_clip_grad_norm_stays_on_the_device(device, rng, monkeypatch, norm_type):
    """The same result as on the CPU; on the stand-in also checks that nothing was converted to a host
    number (on a GPU each conversion is a device synchronisation)."""
    if device == "cpu":
        pytest.skip("a device test")
    grads = [randn(rng, 4, 4) * 10, randn(rng, 3), np.zeros((0, 2), np.float32)]
    cpu = [nn.Parameter(tf.tensor(g)) for g in grads]
    dev = [nn.Parameter(tf.tensor(g, device=device)) for g in grads]
    for p, q, g in zip(cpu, dev, grads):
        p.grad, q.grad = tf.tensor(g), tf.tensor(g, device=device)
    expected = nn.utils.clip_grad_norm_(cpu, 2.0, norm_type)
    with monkeypatch.context() as no_sync:
        if not REAL_CUDA:
            for name in ("__float__", "item", "__bool__", "tolist"):
                no_sync.setattr(type(dev[0]._data), name,
                                lambda self, *a: pytest.fail("clip_grad_norm_ synchronised the device"))
        total = nn.utils.clip_grad_norm_(dev, 2.0, norm_type)
    on(total, device)
    np.testing.assert_allclose(host(total), expected.numpy(), rtol=1e-5)
    for p, q in zip(cpu, dev):
        np.testing.assert_allclose(host(q.grad), p.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_training_loop_on_device(device, rng):
    x = randn(rng, 64, 4)
    y = (x @ randn(rng, 4, 1) > 0).astype(np.int64).ravel()
    tf.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    model = tf.training.Model(net)
    model.to(device)
    model.compile(optimizer=tf.optim.Adam(net.parameters(), lr=0.05), loss=nn.CrossEntropyLoss(),
                  metrics=["accuracy"])
    hist = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    for p in net.parameters():
        on(p, device)
    pred = model.predict(x, verbose=0)
    assert pred.shape == (64, 2)
    loader = tf.data.DataLoader(tf.data.TensorDataset(tf.tensor(x), tf.tensor(y)), batch_size=16, shuffle=True)
    model.fit(loader, epochs=1, verbose=0)  # DataLoader batches are moved to the model's device too
    res = model.evaluate(x, y, verbose=0)
    assert np.isfinite(list(res.values()) if isinstance(res, dict) else res).all()


def test_dataloader_batches_move(device, rng):
    ds = tf.data.TensorDataset(tf.tensor(randn(rng, 10, 3)), tf.tensor(rng.integers(0, 2, 10)))
    for xb, yb in tf.data.DataLoader(ds, batch_size=4):
        xb, yb = xb.to(device), yb.to(device)
        on(xb, device)
        on(yb, device)


def test_save_and_load_device_tensors(device, tmp_path, rng):
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).to(device)
    opt = tf.optim.Adam(m.parameters())
    m(tf.randn(5, 3, device=device)).sum().backward()
    opt.step()
    path = tmp_path / "ckpt.safetensors"
    tf.save({"model": m.state_dict(), "opt": opt.state_dict()}, path)
    back = tf.load(path)
    for k, v in back["model"].items():
        on(v, device)
        np.testing.assert_array_equal(host(v), host(m.state_dict()[k]))
    for k, v in tf.load(path, map_location="cpu")["model"].items():
        on(v, "cpu")
    m2 = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    m2.load_state_dict(tf.load(path, map_location=device)["model"])
    on(m2[0].weight, "cpu")  # load_state_dict copies into the model's own device
    np.testing.assert_array_equal(host(m2[0].weight), host(m[0].weight))
    opt2 = tf.optim.Adam(m.parameters())
    opt2.load_state_dict(back["opt"])
    on(opt2.state[m[0].weight]["exp_avg"], device)


def test_gradcheck_on_device(device, rng):
    x = tf.tensor(randn(rng, 3, 4, dtype=np.float64), device=device, requires_grad=True)
    assert tf.autograd.gradcheck(lambda t: (t.tanh() @ t.t()).sum(1), (x,))


# ---- what a machine without CUDA says ---------------------------------------------------------------------
def _no_cuda_error(monkeypatch, built, cupy_ok, gpus):
    import sys

    import tensorforge.cuda as tfc

    monkeypatch.setattr(tfc, "is_built", lambda: built)
    monkeypatch.setattr(tfc, "device_count", lambda: gpus)
    monkeypatch.setitem(sys.modules, "cupy", sys.modules.get("cupy") if cupy_ok else None)
    if cupy_ok and sys.modules.get("cupy") is None:
        import fake_cupy
        monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    with pytest.raises(RuntimeError) as e:
        tf.ones(2, device="cuda")
    with pytest.raises(RuntimeError):
        tf.ones(2).cuda()
    with pytest.raises(RuntimeError):
        nn.Linear(2, 2).to("cuda")
    return str(e.value)


def test_cuda_request_without_a_cuda_build(monkeypatch):
    msg = _no_cuda_error(monkeypatch, built=False, cupy_ok=True, gpus=0)
    assert "built with CUDA" in msg and "TENSORFORGE_CUDA=ON" in msg and "tensorforge[cuda]" in msg


def test_cuda_request_without_cupy(monkeypatch):
    msg = _no_cuda_error(monkeypatch, built=True, cupy_ok=False, gpus=1)
    assert "cupy, which is not installed" in msg and "tensorforge[cuda]" in msg and "cupy-cuda12x" in msg


def test_cuda_request_without_a_gpu(monkeypatch):
    msg = _no_cuda_error(monkeypatch, built=True, cupy_ok=True, gpus=0)
    assert "sees none" in msg and "is_available() is False" in msg


def test_load_of_a_cuda_checkpoint_without_cuda(monkeypatch, tmp_path):
    import fake_cuda

    with monkeypatch.context() as m:
        fake_cuda.install(m)
        tf.save({"w": tf.ones(3, device="cuda")}, tmp_path / "c.safetensors")
    import tensorforge.cuda as tfc

    monkeypatch.setattr(tfc, "is_built", lambda: False)
    with pytest.raises(RuntimeError, match="map_location='cpu'"):
        tf.load(tmp_path / "c.safetensors")
    on(tf.load(tmp_path / "c.safetensors", map_location="cpu")["w"], "cpu")


def test_device_objects():
    assert tf.device("cuda:1") == tf.device("cuda", 1) and str(tf.device("cuda", 1)) == "cuda:1"
    assert tf.device(0) == tf.device("cuda:0")
    with pytest.raises(RuntimeError, match="Expected one of cpu, cuda"):
        tf.device("tpu")
    with pytest.raises(RuntimeError, match="must be cuda device"):
        tf.ones(2).cuda("cpu")


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_layer_norm_and_gelu_run_on_our_cuda_kernels(device, rng, monkeypatch, approximate):
    """float32 LayerNorm and GELU on "cuda" go through tensorforge.cuda's kernels (counted here), forward
    and backward, and agree with the CPU; float64 on "cuda" composes cupy operations instead."""
    if device == "cpu":
        pytest.skip("routing to the CUDA kernels")
    import tensorforge.cuda as tfc

    calls = []
    for name in ("layer_norm_forward", "layer_norm_backward", "gelu_forward", "gelu_backward"):
        real = getattr(tfc, name)
        monkeypatch.setattr(tfc, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    w, b = randn(rng, 7) + 1, randn(rng, 7)
    compare(lambda x, w, b: F.gelu(F.layer_norm(x, (7,), w, b), approximate=approximate),
            [randn(rng, 3, 5, 7), w, b], device, rtol=1e-4, atol=1e-5)
    assert sorted(set(calls)) == ["gelu_backward", "gelu_forward", "layer_norm_backward", "layer_norm_forward"]
    calls.clear()
    compare(lambda x: F.gelu(F.layer_norm(x, (7,)), approximate=approximate),
            [randn(rng, 3, 7).astype(np.float64)], device)
    assert calls == []


def _count_calls(monkeypatch, names):
    import tensorforge.cuda as tfc

    calls = []
    for name in names:
        real = getattr(tfc, name)
        monkeypatch.setattr(tfc, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    return calls


def test_softmax_and_log_softmax_run_on_our_cuda_kernels(device, rng, monkeypatch):
    """float32 softmax / log_softmax over the last dim on "cuda" go through tensorforge.cuda's kernels
    (counted here), forward and backward; other dims and float64 compose cupy operations instead."""
    if device == "cpu":
        pytest.skip("routing to the CUDA kernels")
    calls = _count_calls(monkeypatch, ("softmax_forward", "softmax_backward"))
    compare(lambda x: F.softmax(x, dim=-1), [randn(rng, 3, 5, 7)], device)
    assert calls == ["softmax_forward", "softmax_backward"]
    calls.clear()
    compare(lambda x: F.log_softmax(x, dim=1) * 2, [randn(rng, 4, 33)], device)
    compare(lambda x: x.softmax(0), [randn(rng, 1)], device)
    assert calls == ["softmax_forward", "softmax_backward"] * 2
    calls.clear()
    compare(lambda x: F.softmax(x, dim=0), [randn(rng, 4, 3)], device)  # not the last dim
    compare(lambda x: F.log_softmax(x, dim=-1), [randn(rng, 4, 3).astype(np.float64)], device)
    assert calls == []


def test_softmax_double_backward_on_cuda(device, rng):
    """With create_graph the softmax backward is recorded in Tensor ops (the kernel's backward is not
    differentiable), so second derivatives through softmax / log_softmax still match the CPU."""
    def grad_of(fn):
        def first_derivative(x):
            (gx,) = tf.autograd.grad((fn(x) ** 3).sum(), x, create_graph=True)
            assert gx.requires_grad, "the recorded backward lost its graph"
            return gx

        return first_derivative

    compare(grad_of(lambda x: F.softmax(x, dim=-1)), [randn(rng, 3, 6)], device, rtol=1e-4, atol=1e-5)
    compare(grad_of(lambda x: F.log_softmax(x, dim=-1)), [randn(rng, 2, 9)], device, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_runs_on_our_cuda_kernel(device, rng, monkeypatch, reduction):
    """float32 cross_entropy with class indices on "cuda" is one fused kernel forward and one backward
    (counted here) and matches the CPU with class weights, ignore_index and label_smoothing."""
    if device == "cpu":
        pytest.skip("routing to the CUDA kernel")
    calls = _count_calls(monkeypatch, ("cross_entropy_forward", "cross_entropy_backward"))
    x, t = randn(rng, 7, 5), rng.integers(0, 5, 7)
    t[2] = -100
    w = rng.uniform(0.5, 2.0, 5).astype(np.float32)
    compare(lambda x, t: F.cross_entropy(x, t, reduction=reduction), [x, t], device)
    compare(lambda x, t: F.cross_entropy(x, t, weight=tf.tensor(w, device=x.device), reduction=reduction,
                                         label_smoothing=0.2), [x, t], device)
    t3 = np.where(t == 3, 3, t)
    compare(lambda x, t: F.cross_entropy(x, t, ignore_index=3, reduction=reduction, label_smoothing=0.1),
            [x, t3 % 5], device)
    assert calls == ["cross_entropy_forward", "cross_entropy_backward"] * 3
    calls.clear()
    compare(lambda x, t: F.cross_entropy(x, t, reduction=reduction), [x.astype(np.float64), t], device)
    probs = rng.dirichlet(np.ones(3), (2, 4)).transpose(0, 2, 1).astype(np.float32)  # (2, 3, 4), classes in dim 1
    compare(lambda x: nn.CrossEntropyLoss(reduction=reduction)(x, tf.tensor(probs, device=x.device)),
            [randn(rng, 2, 3, 4)], device)  # probability targets, (N, C, d) input
    assert calls == []


@pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")  # 0 / 0 for 'mean', on purpose
def test_cross_entropy_cuda_edge_cases(device, rng):
    """Every row ignored gives nan for 'mean' (0 / 0) and zero gradients, as on the CPU and in PyTorch;
    an out-of-range target is an IndexError naming it."""
    x, t = randn(rng, 4, 6), np.full(4, -100)
    for reduction in ("mean", "sum"):
        xs = leaf(x, device)
        loss = F.cross_entropy(xs, tf.tensor(t, device=device), reduction=reduction)
        assert np.isnan(loss.item()) == (reduction == "mean")
        loss.backward()
        np.testing.assert_array_equal(host(xs.grad), 0)
    with pytest.raises(IndexError, match="target 6 is out of bounds for 6 classes"):
        F.cross_entropy(leaf(x, device), tf.tensor(np.array([0, 6, 1, 2]), device=device))
