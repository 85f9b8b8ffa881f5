"""Creation functions, dtypes and PyTorch's promotion rules, conversions, repr."""
import pickle

import numpy as np
import pytest

import tensorforge as tf
from helpers import torch_module



def test_tensor_infers_pytorch_dtypes():
    assert tf.tensor([1.5, 2]).dtype == tf.float32
    assert tf.tensor([1, 2]).dtype == tf.int64
    assert tf.tensor([True, False]).dtype == tf.bool
    assert tf.tensor(np.zeros(3, np.float64)).dtype == tf.float64
    assert tf.tensor([1, 2], dtype=tf.float64).dtype == tf.float64
    assert tf.tensor(3.0).ndim == 0 and tf.tensor(3.0).shape == ()


def test_tensor_copies_but_from_numpy_shares(rng):
    a = rng.standard_normal((3, 2)).astype(np.float32)
    t = tf.tensor(a)
    shared = tf.from_numpy(a)
    a[0, 0] = 42.0
    assert t.numpy()[0, 0] != 42.0
    assert shared.numpy()[0, 0] == 42.0
    shared[1, 1] = -7.0
    assert a[1, 1] == -7.0
    with pytest.raises(TypeError):
        tf.from_numpy(np.zeros(2, np.complex64))


def test_creation_functions_shapes_dtypes_values():
    assert tf.zeros(2, 3).shape == (2, 3) and tf.zeros((2, 3)).numpy().sum() == 0
    assert tf.ones(4, dtype=tf.int32).dtype == tf.int32 and tf.ones(4).numpy().sum() == 4
    assert tf.full((2, 2), 7).dtype == tf.int64 and tf.full((2, 2), 1.5).numpy()[1, 1] == 1.5
    assert tf.empty(3, 1).shape == (3, 1)
    assert tf.arange(5).tolist() == [0, 1, 2, 3, 4] and tf.arange(5).dtype == tf.int64
    assert tf.arange(1, 2, 0.25).dtype == tf.float32 and tf.arange(1, 2, 0.25).numel() == 4
    assert np.allclose(tf.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    assert np.array_equal(tf.eye(3, 4).numpy(), np.eye(3, 4))
    x = tf.randn(3, 5, dtype=tf.float64)
    for like, value in ((tf.zeros_like, 0), (tf.ones_like, 1)):
        y = like(x)
        assert y.shape == x.shape and y.dtype == tf.float64 and np.all(y.numpy() == value)
    assert tf.full_like(x, 2.5).numpy().mean() == 2.5
    assert tf.empty_like(x).shape == (3, 5)
    assert tf.rand_like(x).dtype == tf.float64 and tf.randn_like(x).shape == (3, 5)
    r = tf.randint(3, 9, (1000,))
    assert r.dtype == tf.int64 and r.numpy().min() >= 3 and r.numpy().max() <= 8
    assert tf.randint(5, (2, 2)).numpy().max() < 5
    assert tf.randint_like(r, 2).numpy().max() <= 1
    u = tf.rand(10000)
    assert 0 <= u.numpy().min() and u.numpy().max() < 1 and abs(u.numpy().mean() - 0.5) < 0.02
    n = tf.randn(10000)
    assert n.dtype == tf.float32 and abs(n.numpy().std() - 1) < 0.05
    with pytest.raises(RuntimeError, match="negative dimension"):
        tf.zeros(2, -1)


def test_manual_seed_is_reproducible():
    tf.manual_seed(123)
    a = (tf.rand(5).numpy().copy(), tf.randn(3).numpy().copy(), tf.randint(0, 100, (4,)).numpy().copy())
    tf.manual_seed(123)
    b = (tf.rand(5).numpy(), tf.randn(3).numpy(), tf.randint(0, 100, (4,)).numpy())
    tf.manual_seed(124)
    c = tf.rand(5).numpy()
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    assert not np.array_equal(a[0], c)


def test_conversions_and_metadata(rng):
    a = rng.standard_normal((2, 3))
    t = tf.tensor(a)
    assert t.size() == (2, 3) and t.size(1) == 3 and t.ndim == 2 and t.dim() == 2 and t.numel() == 6
    assert t.device == tf.device("cpu") and str(t.device) == "cpu"
    assert t.tolist() == a.tolist()
    assert tf.tensor([[2.5]]).item() == 2.5
    assert float(tf.tensor(1.5)) == 1.5 and int(tf.tensor(3)) == 3
    assert t.float().dtype == tf.float32 and t.long().dtype == tf.int64 and t.to(tf.float32).dtype == tf.float32
    assert t.to("cpu") is t and t.double() is t
    assert len(t) == 2 and [r.shape for r in t] == [(3,), (3,)]
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        t.item()
    with pytest.raises(RuntimeError, match="requires grad"):
        tf.tensor(a, requires_grad=True).numpy()
    if not tf.cuda.is_available():  # says what is missing: the CUDA build, cupy or a GPU
        with pytest.raises(RuntimeError, match="CUDA tensors"):
            tf.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(t)
    back = pickle.loads(pickle.dumps(tf.tensor(a, requires_grad=True)))
    assert back.requires_grad and np.array_equal(back.detach().numpy(), a)


def test_repr_reads_like_pytorch():
    torch = torch_module()
    cases = [[[1.0, -2.5], [3.0, 4.0]], [1, 2, 3], [1.0, 2.0], 3.0, [True, False]]
    for data in cases:
        assert repr(tf.tensor(data)) == repr(torch.tensor(data))
    assert repr(tf.tensor([1.5], dtype=tf.float64)) == "tensor([1.5000], dtype=tensorforge.float64)"
    assert repr(tf.zeros(0, 3)) == repr(torch.zeros(0, 3))
    x = tf.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward0>)"


DTYPES = ["float32", "float64", "int64", "int32", "bool"]


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", DTYPES)
def test_promotion_matches_torch(da, db):
    torch = torch_module()
    for shape_a, shape_b in (((3,), (3,)), ((3,), ()), ((), (3,))):
        a = tf.ones(shape_a, dtype=getattr(tf, da))
        b = tf.ones(shape_b, dtype=getattr(tf, db))
        ta = torch.ones(shape_a, dtype=getattr(torch, da))
        tb = torch.ones(shape_b, dtype=getattr(torch, db))
        assert (a * b).dtype.name == str((ta * tb).dtype).replace("torch.", "")
        if da != "bool" or db != "bool":
            assert (a + b).dtype.name == str((ta + tb).dtype).replace("torch.", "")
        assert (a / b).dtype.name == str((ta / tb).dtype).replace("torch.", "")
        assert (a < b).dtype == tf.bool


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("scalar", [2, 2.5, True])
def test_scalar_promotion_matches_torch(dt, scalar):
    torch = torch_module()
    a, ta = tf.ones(3, dtype=getattr(tf, dt)), torch.ones(3, dtype=getattr(torch, dt))
    assert (a * scalar).dtype.name == str((ta * scalar).dtype).replace("torch.", "")
    assert (scalar * a).dtype.name == str((scalar * ta).dtype).replace("torch.", "")
    if dt != "bool" and scalar is not True:  # torch rejects subtracting bools
        assert (a - scalar).dtype.name == str((ta - scalar).dtype).replace("torch.", "")


def test_int_ops_results():
    a = tf.tensor([7, -3, 4])
    assert (a + 1).tolist() == [8, -2, 5]
    assert (a // 2).tolist() == [3, -2, 2]
    assert (a / 2).dtype == tf.float32 and (a / 2).tolist() == [3.5, -1.5, 2.0]
    assert a.sum().dtype == tf.int64 and a.sum().item() == 8
    assert tf.tensor([True, True, False]).sum().item() == 2
    assert (~tf.tensor([True, False])).tolist() == [False, True]
    with pytest.raises(RuntimeError, match="mean"):
        a.mean()


def test_tensor_constructor_wraps_arrays_without_copy():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = tf.Tensor(a)
    assert t._data is a and t.is_leaf and not t.requires_grad
    assert tf.Tensor(t)._data is a
    assert tf.Tensor([1.0, 2.0]).dtype == tf.float32


def test_no_grad_inplace_updates_like_an_optimizer(rng):
    p = tf.tensor(rng.standard_normal(5), requires_grad=True)
    g = tf.tensor(rng.standard_normal(5))
    before = p.detach().numpy().copy()
    with tf.no_grad():
        p.add_(g, alpha=-0.1)
        p.mul_(0.5)
        p.addcmul_(g, g, value=2.0)
        p.clamp_(-1.0, 1.0)
    expected = np.clip((before - 0.1 * g.numpy()) * 0.5 + 2.0 * g.numpy() ** 2, -1, 1)
    assert np.allclose(p.detach().numpy(), expected)
    assert p.is_leaf and p.requires_grad and p._version == 4
    buf = tf.zeros(5)
    buf.copy_(g)
    assert buf.dtype == tf.float32 and np.array_equal(buf.numpy(), g.numpy().astype(np.float32))
    buf.zero_()
    assert not buf.numpy().any()
    tf.manual_seed(7)
    u = tf.empty(4).uniform_(-1, 1).numpy().copy()
    tf.manual_seed(7)
    assert np.array_equal(tf.empty(4).uniform_(-1, 1).numpy(), u) and np.abs(u).max() <= 1
