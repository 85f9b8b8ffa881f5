"""nn.Module mechanics: registration, traversal, train/eval, zero_grad, to(dtype), hooks,
state_dict key names and load_state_dict (strict, shape checks, all-or-nothing, torch tensors)."""
import numpy as np
import pytest

import tensorforge as tf
from tensorforge import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.norm = nn.BatchNorm1d(4)
        self.scale = nn.Parameter(tf.ones(4))
        self.register_buffer("steps", tf.zeros(1))
        self.register_buffer("scratch", tf.zeros(2), persistent=False)

    def forward(self, x):
        return self.norm(self.fc(x)) * self.scale


def test_registration_and_names():
    m = nn.Sequential(Block(), nn.ReLU(), nn.Linear(4, 2))
    names = [n for n, _ in m.named_parameters()]
    assert names == ["0.scale", "0.fc.weight", "0.fc.bias", "0.norm.weight", "0.norm.bias", "2.weight", "2.bias"]
    assert [n for n, _ in m.named_buffers()] == ["0.steps", "0.scratch", "0.norm.running_mean",
                                                   "0.norm.running_var", "0.norm.num_batches_tracked"]
    keys = list(m.state_dict())
    assert "0.scratch" not in keys and "0.norm.num_batches_tracked" in keys
    assert [n for n, _ in m.named_modules()] == ["", "0", "0.fc", "0.norm", "1", "2"]
    assert len(list(m.children())) == 3
    assert m.get_submodule("0.fc") is m[0].fc


def test_shared_parameter_listed_once():
    lin = nn.Linear(3, 3)
    m = nn.Sequential(lin, nn.Tanh(), lin)
    assert len(list(m.parameters())) == 2
    assert list(m.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_assignment_rules():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.weight = tf.ones(2, 2)
    m.bias = None
    assert m.bias is None and [n for n, _ in m.named_parameters()] == ["weight"]
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        m.missing
    with pytest.raises(KeyError, match="cannot be empty or contain"):
        m.register_buffer("a.b", tf.ones(1))

    class Early(nn.Module):
        def __init__(self):
            self.p = nn.Parameter(tf.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_train_eval_and_zero_grad(rng):
    m = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    assert m.training and m[1].training
    m.eval()
    assert not m.training and not m[1].training
    x = tf.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    np.testing.assert_array_equal(m(x).detach().numpy(), m[0](x).detach().numpy())
    m.train()
    m(x).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_to_dtype_keeps_identity_and_casts_only_floats():
    m = Block()
    w = m.fc.weight
    m.double()
    assert m.fc.weight is w and w.dtype == tf.float64 and w.requires_grad
    assert m.norm.num_batches_tracked.dtype == tf.int64
    m.to(tf.float32)
    assert w.dtype == tf.float32
    with pytest.raises(TypeError, match="floating point"):
        m.to(tf.int64)


def test_forward_hooks():
    m = nn.Linear(2, 2)
    seen = []
    h1 = m.register_forward_pre_hook(lambda mod, args: seen.append(("pre", args[0].shape)))
    h2 = m.register_forward_hook(lambda mod, args, out: out * 0)
    out = m(tf.ones(1, 2))
    assert seen == [("pre", (1, 2))] and np.all(out.detach().numpy() == 0)
    h1.remove()
    h2.remove()
    assert np.any(m(tf.ones(1, 2)).detach().numpy() != 0) and len(seen) == 1


def test_state_dict_round_trip_and_sharing(rng):
    a, b = Block(), Block()
    for p in a.parameters():
        p.data = tf.tensor(rng.standard_normal(p.shape).astype(np.float32))
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb
        np.testing.assert_array_equal(pa.numpy(), pb.numpy())
    sd = a.state_dict()
    sd["fc.weight"]._data[0, 0] = 123.0  # state_dict tensors share memory with the module, like torch
    assert a.fc.weight.detach().numpy()[0, 0] == 123.0


def test_load_state_dict_errors_change_nothing():
    m = Block()
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    sd = {k: tf.ones(*v.shape) for k, v in m.state_dict().items()}
    sd["fc.weight"] = tf.ones(5, 5)
    with pytest.raises(RuntimeError, match=r"size mismatch for fc.weight.*\(5, 5\).*\(4, 3\)"):
        m.load_state_dict(sd)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    sd = {k: tf.ones(*v.shape) for k, v in m.state_dict().items()}
    del sd["scale"]
    sd["extra"] = tf.ones(1)
    with pytest.raises(RuntimeError, match=r'(?s)Unexpected key\(s\) in state_dict: "extra".*Missing key\(s\).*"scale"'):
        m.load_state_dict(sd)
    result = m.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["scale"] and result.unexpected_keys == ["extra"]
    assert np.all(m.fc.weight.detach().numpy() == 1)


def test_torch_weights_load_and_ours_load_into_torch(rng):
    torch = pytest.importorskip("torch")
    tm = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.LayerNorm(7), torch.nn.Linear(7, 3),
                             torch.nn.BatchNorm1d(3))
    ours = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.LayerNorm(7), nn.Linear(7, 3), nn.BatchNorm1d(3))
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.randn_like(p))
    assert list(ours.state_dict()) == list(tm.state_dict())
    ours.load_state_dict(tm.state_dict())
    x = rng.standard_normal((6, 5)).astype(np.float32)
    tm.eval(), ours.eval()
    np.testing.assert_allclose(ours(tf.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)
    back = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.LayerNorm(7), torch.nn.Linear(7, 3),
                               torch.nn.BatchNorm1d(3)).eval()
    back.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    np.testing.assert_allclose(back(torch.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-6, atol=1e-6)


def test_repr_matches_torch_style():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Dropout(0.2))
    assert repr(m) == ("Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): ReLU()\n"
                       "  (2): Dropout(p=0.2, inplace=False)\n)")


def test_containers():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.Linear(2, 1))
    assert [n for n, _ in layers.named_parameters()][-1] == "3.bias"
    d = nn.ModuleDict({"enc": nn.Linear(2, 2), "dec": nn.Linear(2, 2)})
    assert list(d.keys()) == ["enc", "dec"] and "enc.weight" in d.state_dict()
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    assert isinstance(seq[-1], nn.Linear) and len(seq[1:]) == 2
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    plist = nn.ParameterList([tf.ones(2), tf.zeros(3)])
    assert [p.shape for p in plist] == [(2,), (3,)] and all(p.requires_grad for p in plist)


def test_linear_input_errors():
    with pytest.raises(ValueError, match=r"Linear\(in_features=3\).*\(2, 4\)"):
        nn.Linear(3, 2)(tf.ones(2, 4))
