"""Every layer against torch with the same weights (outputs, input and parameter gradients, train
and eval), the functional forms by float64 gradcheck, running statistics, and the errors."""
import numpy as np
import pytest

import tensorforge as tf
from tensorforge import nn
from tensorforge.nn import functional as F

from helpers import assert_close, random_array

DTYPES = [(np.float64, 1e-12), (np.float32, 2e-6)]


def _torch():
    return pytest.importorskip("torch")


def _pair(ours, theirs, torch, dtype):
    """Moves both modules to dtype and copies theirs' weights into ours (through torch tensors)."""
    theirs.to(getattr(torch, np.dtype(dtype).name))
    ours.to(tf.float64 if dtype == np.float64 else tf.float32)
    ours.load_state_dict(theirs.state_dict())


def _compare(ours, theirs, x, tol, torch, index_input=False):
    xt = torch.tensor(x)
    xo = tf.tensor(x)
    if not index_input:
        xt.requires_grad_(True)
        xo.requires_grad_(True)
    out_t = theirs(xt)
    out_o = ours(xo)
    assert_close(out_o.detach().numpy(), out_t.detach().numpy(), tol)
    seed = np.random.default_rng(0).standard_normal(out_t.shape).astype(x.dtype if not index_input else
                                                                          out_t.detach().numpy().dtype)
    (out_t * torch.tensor(seed)).sum().backward()
    (out_o * tf.tensor(seed)).sum().backward()
    if not index_input:
        assert_close(xo.grad.numpy(), xt.grad.numpy(), tol)
    theirs_grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad.numpy(), theirs_grads[name].grad.numpy(), tol)


CASES = {
    "linear": (lambda t: (nn.Linear(7, 5), t.nn.Linear(7, 5)), (3, 7)),
    "linear_3d_nobias": (lambda t: (nn.Linear(33, 4, bias=False), t.nn.Linear(33, 4, bias=False)), (2, 5, 33)),
    "layer_norm": (lambda t: (nn.LayerNorm(9), t.nn.LayerNorm(9)), (4, 3, 9)),
    "layer_norm_2d_shape": (lambda t: (nn.LayerNorm((3, 5)), t.nn.LayerNorm((3, 5))), (2, 3, 5)),
    "layer_norm_no_affine": (lambda t: (nn.LayerNorm(6, elementwise_affine=False),
                                        t.nn.LayerNorm(6, elementwise_affine=False)), (5, 6)),
    "batch_norm1d": (lambda t: (nn.BatchNorm1d(6), t.nn.BatchNorm1d(6)), (8, 6)),
    "batch_norm1d_3d": (lambda t: (nn.BatchNorm1d(3), t.nn.BatchNorm1d(3)), (4, 3, 7)),
    "batch_norm2d": (lambda t: (nn.BatchNorm2d(4), t.nn.BatchNorm2d(4)), (3, 4, 5, 7)),
    "batch_norm2d_no_affine": (lambda t: (nn.BatchNorm2d(2, affine=False), t.nn.BatchNorm2d(2, affine=False)),
                               (3, 2, 3, 3)),
    "mlp": (lambda t: (nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.LayerNorm(16), nn.Linear(16, 3), nn.Tanh()),
                       t.nn.Sequential(t.nn.Linear(6, 16), t.nn.GELU(), t.nn.LayerNorm(16), t.nn.Linear(16, 3),
                                       t.nn.Tanh())), (10, 6)),
    "activations": (lambda t: (nn.Sequential(nn.LeakyReLU(0.2), nn.ELU(), nn.SiLU(), nn.Softplus(), nn.Mish(),
                                             nn.ReLU6(), nn.Hardtanh(-0.5, 0.5), nn.Sigmoid()),
                               t.nn.Sequential(t.nn.LeakyReLU(0.2), t.nn.ELU(), t.nn.SiLU(), t.nn.Softplus(),
                                               t.nn.Mish(), t.nn.ReLU6(), t.nn.Hardtanh(-0.5, 0.5), t.nn.Sigmoid())),
                    (4, 9)),
    "softmaxes": (lambda t: (nn.Sequential(nn.Softmax(dim=1), nn.LogSoftmax(dim=-1)),
                             t.nn.Sequential(t.nn.Softmax(dim=1), t.nn.LogSoftmax(dim=-1))), (3, 8)),
}


@pytest.mark.parametrize("dtype,tol", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_layer_matches_torch(name, mode, dtype, tol, rng):
    torch = _torch()
    make, shape = CASES[name]
    ours, theirs = make(torch)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.tensor(rng.uniform(-1, 1, tuple(p.shape))))
        for b_name, b in theirs.named_buffers():
            if "running_var" in b_name:
                b.copy_(torch.tensor(rng.uniform(0.5, 2, tuple(b.shape))))
            elif "running_mean" in b_name:
                b.copy_(torch.tensor(rng.uniform(-1, 1, tuple(b.shape))))
    _pair(ours, theirs, torch, dtype)
    getattr(ours, mode)()
    getattr(theirs, mode)()
    x = random_array(rng, shape, away_from=(0.0,)).astype(dtype)
    if "batch_norm" in name:
        tol *= 10
    if name == "mlp":
        tol = max(tol * 5, 1e-7)  # GELU's erf is a 1.2e-7-accurate fit, in float64 too
    _compare(ours, theirs, x, tol, torch)
    for (name_o, b_o), (name_t, b_t) in zip(ours.named_buffers(), theirs.named_buffers()):
        assert name_o == name_t
        assert_close(b_o.numpy(), b_t.detach().numpy(), tol * 10)


def test_batch_norm_running_stats_over_steps(rng):
    torch = _torch()
    ours, theirs = nn.BatchNorm2d(3, momentum=None), torch.nn.BatchNorm2d(3, momentum=None)
    for _ in range(4):
        x = rng.standard_normal((5, 3, 4, 4)) * 3 + 1
        ours(tf.tensor(x.astype(np.float32)))
        theirs(torch.tensor(x.astype(np.float32)))
    assert int(ours.num_batches_tracked.item()) == 4
    assert_close(ours.running_mean.numpy(), theirs.running_mean.numpy(), 1e-5)
    assert_close(ours.running_var.numpy(), theirs.running_var.numpy(), 1e-5)


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_torch(padding_idx, rng):
    torch = _torch()
    ours = nn.Embedding(11, 5, padding_idx=padding_idx).double()
    theirs = torch.nn.Embedding(11, 5, padding_idx=padding_idx).double()
    ours.load_state_dict(theirs.state_dict())
    idx = rng.integers(0, 11, (4, 6))
    idx[0, :3] = 2
    idx[1, :2] = 10
    _compare(ours, theirs, idx, 1e-12, torch, index_input=True)
    if padding_idx is not None:
        row = padding_idx % 11
        assert np.all(ours.weight.grad.numpy()[row] == 0)
    fresh = nn.Embedding(11, 5, padding_idx=padding_idx)
    if padding_idx is not None:
        assert np.all(fresh.weight.detach().numpy()[padding_idx % 11] == 0)


def test_embedding_errors():
    emb = nn.Embedding(4, 2)
    with pytest.raises(IndexError, match="index 4 is out of range for a table of 4 rows"):
        emb(tf.tensor([1, 4]))
    with pytest.raises(TypeError, match="integer tensor"):
        emb(tf.tensor([1.0]))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(4, 2, padding_idx=4)


GRADCHECKS = {
    "linear": (lambda x, w, b: F.linear(x, w, b), [(3, 4), (5, 4), (5,)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (4,), w, b), [(3, 4), (4,), (4,)]),
    "layer_norm_plain": (lambda x: F.layer_norm(x, (2, 3)), [(2, 2, 3)]),
    "batch_norm_train": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [(4, 3, 2), (3,), (3,)]),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), [(3, 5)]),
    "elu": (lambda x: F.elu(x), [(3, 5)]),
    "silu": (lambda x: F.silu(x), [(3, 5)]),
    "softplus": (lambda x: F.softplus(x, beta=2.0), [(3, 5)]),
    "mish": (lambda x: F.mish(x), [(3, 5)]),
    "glu": (lambda x: F.glu(x), [(3, 6)]),
}


@pytest.mark.parametrize("name", sorted(GRADCHECKS))
def test_functional_gradcheck(name, rng):
    fn, shapes = GRADCHECKS[name]
    inputs = [tf.tensor(random_array(rng, s, away_from=(0.0,)), requires_grad=True) for s in shapes]
    assert tf.autograd.gradcheck(fn, inputs)


def test_embedding_gradcheck(rng):
    idx = tf.tensor(rng.integers(0, 6, (3, 4)))
    w = tf.tensor(random_array(rng, (6, 2)), requires_grad=True)
    assert tf.autograd.gradcheck(lambda w: F.embedding(idx, w), [w])  # padding rows get no grad by design


def test_dropout_statistics_and_scaling(rng):
    tf.manual_seed(int(rng.integers(1 << 31)))
    x = tf.ones(200_000, requires_grad=True)
    y = F.dropout(x, 0.3)
    kept = y.detach().numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y.detach().numpy()[kept], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy() != 0, kept)
    assert F.dropout(x, 0.3, training=False) is x
    assert np.all(F.dropout(x, 1.0).detach().numpy() == 0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_layer_input_errors():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4-D input"):
        nn.BatchNorm2d(3)(tf.ones(2, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(4\): input has 3 channels"):
        nn.BatchNorm1d(4)(tf.ones(2, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(tf.ones(1, 3))
    with pytest.raises(ValueError, match="does not end with normalized_shape"):
        nn.LayerNorm(5)(tf.ones(2, 4))


def test_init_functions_follow_torch_formulas(rng):
    torch = _torch()
    tf.manual_seed(int(rng.integers(1 << 31)))
    w = tf.empty(400, 300)
    nn.init.kaiming_uniform_(w, a=5 ** 0.5)
    bound = 1 / 300 ** 0.5  # kaiming_uniform with a=sqrt(5): gain sqrt(2/6), bound = gain*sqrt(3/fan_in)
    d = w.numpy()
    assert d.max() <= bound and d.min() >= -bound and abs(d.std() - bound / 3 ** 0.5) < 0.01 * bound
    nn.init.xavier_normal_(w)
    assert abs(w.numpy().std() - (2 / 700) ** 0.5) < 0.02 * (2 / 700) ** 0.5
    nn.init.trunc_normal_(w, std=1.0, a=-0.5, b=0.5)
    assert w.numpy().max() <= 0.5 and w.numpy().min() >= -0.5
    nn.init.orthogonal_(w)
    np.testing.assert_allclose(w.numpy().T @ w.numpy(), np.eye(300), atol=1e-5)
    for nl, param in [("relu", None), ("tanh", None), ("leaky_relu", 0.2), ("selu", None), ("linear", None)]:
        assert nn.init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param))
    conv_like = tf.empty(8, 4, 3, 3)
    assert nn.init._calculate_fan_in_and_fan_out(conv_like) == (36, 72)


def test_linear_fused_bias_gradients_and_double_backward(rng):
    """F.linear with a bias takes the fused GEMM (beta = 1) path on CPU floats: gradients of every
    argument by gradcheck (batched input), second order through create_graph, and torch parity."""
    torch = _torch()
    x = tf.tensor(random_array(rng, (2, 3, 4)), requires_grad=True)
    w = tf.tensor(random_array(rng, (5, 4)), requires_grad=True)
    b = tf.tensor(random_array(rng, (5,)), requires_grad=True)
    assert tf.autograd.gradcheck(F.linear, [x, w, b])
    assert tf.autograd.gradcheck(lambda x, w, b: tf.autograd.grad((F.linear(x, w, b) ** 2).sum(), x,
                                                                   create_graph=True)[0], [x, w, b])
    xs = random_array(rng, (7, 9, 33)).astype(np.float32)
    ws, bs = random_array(rng, (65, 33)).astype(np.float32), random_array(rng, (65,)).astype(np.float32)
    ours = [tf.tensor(a, requires_grad=True) for a in (xs, ws, bs)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (xs, ws, bs)]
    y, yt = F.linear(*ours), torch.nn.functional.linear(*theirs)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    y.sum().backward()
    yt.sum().backward()
    for a, at in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=1e-4, atol=1e-4)
