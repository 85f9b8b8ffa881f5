"""Indexing (basic, integer arrays, boolean masks, setitem) and shape ops, with gradients."""
import numpy as np
import pytest

import tensorforge as tf
from helpers import assert_close, to_torch, torch_module


INDEXES = [
    ("int", lambda: 2),
    ("neg_slice_step", lambda: (slice(None), slice(5, 0, -2))),
    ("ellipsis_none", lambda: (Ellipsis, None, 1)),
    ("int_array_repeated", lambda: np.array([0, 3, 3, 1, 3])),
    ("int_list_2d", lambda: ([0, 2, 2], [1, 1, 4])),
    ("mixed_slice_array", lambda: (slice(1, 3), np.array([4, 0, 4]))),
    ("bool_mask_rows", lambda: np.array([True, False, True, True])),
]


@pytest.mark.parametrize("name,make_index", INDEXES, ids=[n for n, _ in INDEXES])
def test_getitem_forward_and_scatter_add_backward(name, make_index, rng):
    a = rng.standard_normal((4, 6))
    idx = make_index()
    x = tf.tensor(a, requires_grad=True)
    out = x[idx]
    ref = a[idx]
    assert_close(out.detach().numpy(), ref, 0)
    w = rng.standard_normal(ref.shape)
    (out * tf.tensor(w)).sum().backward()
    expected = np.zeros_like(a)
    np.add.at(expected, idx, w)  # repeated indices accumulate
    assert_close(x.grad.numpy(), expected, 1e-14)
    assert tf.autograd.gradcheck(lambda t: t[idx], [tf.tensor(a, requires_grad=True)])


def test_tensor_indices_and_elementwise_mask(rng):
    a = rng.standard_normal((3, 5))
    x = tf.tensor(a, requires_grad=True)
    mask = x > 0.1
    picked = x[mask]
    assert_close(picked.detach().numpy(), a[a > 0.1], 0)
    rows = tf.tensor([2, 0, 2])
    assert_close(x[rows].detach().numpy(), a[[2, 0, 2]], 0)
    assert_close(x[tf.tensor(1)].detach().numpy(), a[1], 0)
    (picked.sum() + x[rows].sum()).backward()
    expected = (a > 0.1).astype(float)
    np.add.at(expected, [2, 0, 2], 1.0)
    assert_close(x.grad.numpy(), expected, 0)


@pytest.mark.parametrize("bad", [tf.tensor([0.0, 1.0]), [0.5, 1.0], 1.5])
def test_wrong_index_dtype_is_an_error(bad):
    with pytest.raises(IndexError):
        tf.zeros(3, 3)[bad]


def test_out_of_range_index_is_an_error():
    with pytest.raises(IndexError, match="shape"):
        tf.zeros(3, 2)[5]


def test_basic_index_is_a_view_and_shares_version():
    x = tf.zeros(4, 3)
    row = x[1]
    row[2] = 5.0
    assert x.numpy()[1, 2] == 5.0
    assert x._version == row._version == 1


def test_setitem_matches_torch_with_gradients(rng):
    torch = torch_module()
    a, v = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    grads = []
    for lib, (x, val) in ((tf, [tf.tensor(a, requires_grad=True), tf.tensor(v, requires_grad=True)]),
                          (torch, to_torch(torch, [a, v]))):
        h = x * 2
        h[[0, 2]] = val * 3
        h[:, 1] = 0.5
        (h * h).sum().backward()
        grads.append((h.detach().numpy().copy(), x.grad.numpy().copy(), val.grad.numpy().copy()))
    for ours, theirs in zip(*grads):
        assert_close(ours, theirs, 1e-12)


def test_cat_stack_split_chunk_shapes_and_errors(rng):
    a, b = tf.randn(2, 3), tf.randn(2, 5)
    assert tf.cat([a, b], 1).shape == (2, 8)
    assert tf.cat([a, tf.tensor([])], 0).shape == (2, 3)  # 1-D empty tensors are skipped, like torch
    assert tf.stack([a, a, a], -1).shape == (2, 3, 3)
    assert [t.shape for t in tf.randn(7, 2).split([3, 4])] == [(3, 2), (4, 2)]
    assert [t.shape[0] for t in tf.randn(10).chunk(4)] == [3, 3, 3, 1]
    assert tf.cat([tf.ones(2, dtype=tf.int64), tf.ones(2)]).dtype == tf.float32
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        tf.cat([a, b], 0)
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        tf.stack([a, b])
    with pytest.raises(RuntimeError, match="split_with_sizes"):
        a.split([1, 1], 1)


def test_shape_op_errors():
    x = tf.zeros(2, 3)
    with pytest.raises(RuntimeError, match="invalid for input of size 6"):
        x.reshape(4, 2)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.t().view(6)
    assert x.t().reshape(6).shape == (6,)
    with pytest.raises(RuntimeError, match="expanded size"):
        x.expand(2, 4)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.sum(2)
    with pytest.raises(RuntimeError, match="permutation"):
        x.permute(0, 0)


def test_view_shares_memory_and_reshape_of_transposed_copies():
    x = tf.arange(6).reshape(2, 3)
    v = x.view(3, 2)
    v[0, 0] = 100
    assert x.numpy()[0, 0] == 100
    assert x.T.shape == (3, 2) and x.mT.shape == (3, 2)
    assert x.t().contiguous().is_contiguous() and not x.t().is_contiguous()


def test_max_min_with_dim_return_values_and_indices(rng):
    torch = torch_module()
    a = rng.standard_normal((4, 5))
    ours, theirs = tf.tensor(a).max(1), torch.tensor(a).max(1)
    assert np.array_equal(ours.indices.numpy(), theirs.indices.numpy())
    assert np.array_equal(ours.values.numpy(), theirs.values.numpy())
    assert np.array_equal(tf.tensor(a).argmin(0).numpy(), a.argmin(0))
    assert tf.tensor(a).argmax().item() == a.argmax()
    assert tf.tensor(a).argmax(1, keepdim=True).shape == (4, 1)


def test_max_ties_share_gradient_like_torch():
    torch = torch_module()
    a = np.array([1.0, 3.0, 3.0, 2.0])
    x, t = tf.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    x.max().backward()
    t.max().backward()
    assert np.array_equal(x.grad.numpy(), t.grad.numpy())


def test_prod_gradient_with_zeros_matches_torch(rng):
    torch = torch_module()
    a = rng.standard_normal((3, 4))
    a[0, 1] = 0.0
    a[2, 0] = a[2, 3] = 0.0
    for dim in (None, 1, 0):
        x, t = tf.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        (x.prod() if dim is None else x.prod(dim)).sum().backward()
        (t.prod() if dim is None else t.prod(dim)).sum().backward()
        assert_close(x.grad.numpy(), t.grad.numpy(), 1e-12)


def test_gather_matches_torch_and_gradchecks(rng):
    torch = torch_module()
    a = rng.standard_normal((3, 4))
    idx = rng.integers(0, 4, (3, 6))
    x, t = tf.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    w = rng.standard_normal((3, 6))
    (tf.gather(x, 1, tf.tensor(idx)) * tf.tensor(w)).sum().backward()
    (torch.gather(t, 1, torch.tensor(idx)) * torch.tensor(w)).sum().backward()
    assert_close(x.grad.numpy(), t.grad.numpy(), 1e-12)
    assert tf.autograd.gradcheck(lambda v: tf.gather(v, 1, tf.tensor(idx)), [tf.tensor(a, requires_grad=True)])


def test_softmax_is_stable_for_large_inputs():
    x = tf.tensor([[1000.0, 0.0, -1000.0], [-np.inf, 0.0, 1.0]])
    s = x.softmax(-1).numpy()
    assert np.all(np.isfinite(s)) and np.allclose(s.sum(-1), 1)
    ls = x.log_softmax(-1).numpy()
    assert np.isfinite(ls[0]).all() and ls[0, 0] == 0.0
    assert np.isfinite(tf.tensor([1e4, 1e4]).logsumexp(0).item())
