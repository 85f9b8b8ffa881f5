"""Variable-length sequences: pack_padded_sequence / pad_packed_sequence / pad_sequence /
pack_sequence against torch.nn.utils.rnn, and RNN / LSTM / GRU over a PackedSequence against torch
with the same weights (outputs, h_n, c_n and every gradient, float64), plus a float64 gradcheck
and the errors."""
import numpy as np
import pytest
import torch

import tensorforge as tf
from tensorforge import nn
from tensorforge.nn.utils.rnn import (PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence,
                                      pad_sequence)

T_RNN = torch.nn.utils.rnn


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.detach().numpy()


@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_and_pad_match_torch(rng, enforce_sorted, batch_first):
    lengths = [7, 5, 5, 2, 1] if enforce_sorted else [2, 7, 1, 5, 5]
    x = rng.normal(size=(5, 7, 3) if batch_first else (7, 5, 3))
    ours = pack_padded_sequence(tf.tensor(x, requires_grad=True), lengths, batch_first, enforce_sorted)
    ref = T_RNN.pack_padded_sequence(torch.from_numpy(x), torch.tensor(lengths), batch_first, enforce_sorted)
    np.testing.assert_array_equal(_np(ours.data), _np(ref.data))
    np.testing.assert_array_equal(ours.batch_sizes.numpy(), ref.batch_sizes.numpy())
    for a, b in ((ours.sorted_indices, ref.sorted_indices), (ours.unsorted_indices, ref.unsorted_indices)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    padded, lens = pad_packed_sequence(ours, batch_first, padding_value=-3.0, total_length=9)
    tpadded, tlens = T_RNN.pad_packed_sequence(ref, batch_first, padding_value=-3.0, total_length=9)
    np.testing.assert_array_equal(_np(padded), _np(tpadded))
    np.testing.assert_array_equal(lens.numpy(), tlens.numpy())


def test_pack_pad_gradients_and_pad_sequence(rng):
    seqs = [rng.normal(size=(n, 2)) for n in (3, 6, 1)]
    ours = [tf.tensor(s, requires_grad=True) for s in seqs]
    ref = [torch.from_numpy(s).requires_grad_() for s in seqs]
    for side in ("right", "left"):
        np.testing.assert_array_equal(_np(pad_sequence(ours, True, 9.0, side)),
                                      _np(T_RNN.pad_sequence(ref, True, 9.0, side)))
    packed = pack_sequence(ours, enforce_sorted=False)
    tpacked = T_RNN.pack_sequence(ref, enforce_sorted=False)
    out, _ = pad_packed_sequence(packed)
    tout, _ = T_RNN.pad_packed_sequence(tpacked)
    w = rng.normal(size=tuple(tout.shape))
    (out * tf.tensor(w)).sum().backward()
    (tout * torch.from_numpy(w)).sum().backward()
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def _pair(kind, rng, **kwargs):
    torch.manual_seed(int(rng.integers(2**31)))
    ref = getattr(torch.nn, kind)(4, 5, **kwargs).double()
    ours = getattr(nn, kind)(4, 5, **kwargs).double()
    ours.load_state_dict(ref.state_dict())
    return ours, ref


CONFIGS = [
    ("LSTM", {}), ("LSTM", {"num_layers": 2, "bidirectional": True}), ("LSTM", {"proj_size": 3}),
    ("LSTM", {"bidirectional": True, "proj_size": 2}), ("GRU", {"num_layers": 2}), ("GRU", {"bidirectional": True}),
    ("RNN", {"nonlinearity": "relu", "bidirectional": True}), ("RNN", {"num_layers": 3}),
]


@pytest.mark.parametrize("kind,kwargs", CONFIGS, ids=[f"{k}-{'-'.join(map(str, v.items()))}" for k, v in CONFIGS])
@pytest.mark.parametrize("with_state", [False, True])
def test_layers_over_packed_sequences_match_torch(rng, kind, kwargs, with_state):
    ours, ref = _pair(kind, rng, **kwargs)
    lengths = [3, 6, 1, 6, 4, 2]  # unsorted, with a repeated length and a length-1 sequence
    x = rng.normal(size=(6, 6, 4))
    xo, xr = tf.tensor(x, requires_grad=True), torch.from_numpy(x).requires_grad_()
    po = pack_padded_sequence(xo, lengths, enforce_sorted=False)
    pr = T_RNN.pack_padded_sequence(xr, torch.tensor(lengths), enforce_sorted=False)
    states_o = states_r = None
    if with_state:
        directions = 2 if kwargs.get("bidirectional") else 1
        layers = kwargs.get("num_layers", 1) * directions
        h0 = rng.normal(size=(layers, 6, kwargs.get("proj_size") or 5))
        c0 = rng.normal(size=(layers, 6, 5))
        if kind == "LSTM":
            states_o = (tf.tensor(h0, requires_grad=True), tf.tensor(c0, requires_grad=True))
            states_r = (torch.from_numpy(h0).requires_grad_(), torch.from_numpy(c0).requires_grad_())
        else:
            states_o, states_r = tf.tensor(h0, requires_grad=True), torch.from_numpy(h0).requires_grad_()
    out_o, hid_o = ours(po, states_o)
    out_r, hid_r = ref(pr, states_r)
    assert isinstance(out_o, PackedSequence)
    np.testing.assert_allclose(_np(out_o.data), _np(out_r.data), rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(out_o.batch_sizes.numpy(), out_r.batch_sizes.numpy())
    hid_o = hid_o if kind == "LSTM" else (hid_o,)
    hid_r = hid_r if kind == "LSTM" else (hid_r,)
    for a, b in zip(hid_o, hid_r):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-12, atol=1e-13)
    # one scalar from everything: output data and final states
    w_out = rng.normal(size=tuple(out_r.data.shape))
    w_hid = [rng.normal(size=tuple(h.shape)) for h in hid_r]
    loss_o = (out_o.data * tf.tensor(w_out)).sum() + sum((h * tf.tensor(w)).sum() for h, w in zip(hid_o, w_hid))
    loss_r = (out_r.data * torch.from_numpy(w_out)).sum() + sum((h * torch.from_numpy(w)).sum()
                                                                 for h, w in zip(hid_r, w_hid))
    loss_o.backward()
    loss_r.backward()
    np.testing.assert_allclose(xo.grad.numpy(), xr.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (name, p), (tname, tp) in zip(ours.named_parameters(), ref.named_parameters()):
        assert name == tname
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    if with_state:
        for a, b in zip(states_o if kind == "LSTM" else (states_o,), states_r if kind == "LSTM" else (states_r,)):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_packed_lstm_gradcheck(rng):
    lstm = nn.LSTM(2, 3, bidirectional=True).double()
    x = tf.tensor(rng.normal(size=(4, 3, 2)), requires_grad=True)

    def fn(inp):
        out, (h, c) = lstm(pack_padded_sequence(inp, [2, 4, 1], enforce_sorted=False))
        return out.data.sum() * 0.5 + (h * c).sum()

    assert tf.autograd.gradcheck(fn, (x,))


def test_packed_input_errors(rng):
    lstm = nn.LSTM(4, 5)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order when `enforce_sorted` is True"):
        pack_padded_sequence(tf.randn(5, 3, 4), [2, 5, 1])
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        pack_padded_sequence(tf.randn(5, 3, 4), [5, 2, 0])
    with pytest.raises(ValueError, match=r"Expected `len\(lengths\)` to be equal to batch_size"):
        pack_padded_sequence(tf.randn(5, 3, 4), [5, 2])
    with pytest.raises(RuntimeError, match="a length of 6 exceeds the 5 time steps"):
        pack_padded_sequence(tf.randn(5, 3, 4), [6, 2, 1])
    packed = pack_padded_sequence(tf.randn(5, 3, 4), [5, 2, 1])
    with pytest.raises(ValueError, match="total_length=3 and max sequence length being 5"):
        pad_packed_sequence(packed, total_length=3)
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 3, 5\), got \[1, 2, 5\]"):
        lstm(packed, (tf.zeros(1, 2, 5), tf.zeros(1, 2, 5)))
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size"):
        lstm(pack_padded_sequence(tf.randn(5, 3, 2), [5, 2, 1]))
    with pytest.raises(RuntimeError, match="pad_sequence: sequence 1 has trailing shape"):
        pad_sequence([tf.randn(3, 2), tf.randn(2, 3)])
