"""Recurrent layers: RNN / LSTM / GRU and their cells against torch with the same weights (outputs,
final states, gradients of the input, the initial states and every parameter; float64 and
float32), the fused sequence nodes by float64 gradcheck, dropout between layers, and the errors."""
import copy
import math

import numpy as np
import pytest

import tensorforge as tf
from tensorforge import nn
from tensorforge.ops import rnn as rnn_ops

from helpers import assert_close, random_array, torch_module

TOL = {np.float64: 1e-12, np.float32: 1e-4}  # float32: gradients summed over steps (see _check_grads)
REF_SCALE_FLOOR = 1e-2
KINDS = {
    "lstm": ("LSTM", {}),
    "lstm_proj": ("LSTM", {"proj_size": -1}),  # -1: half the hidden size (configs with hidden >= 2)
    "gru": ("GRU", {}),
    "rnn_tanh": ("RNN", {}),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
}
CELL_KINDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
# (input_size, hidden_size, seq, batch, module kwargs, initial state given)
CONFIGS = {
    "one_layer": (5, 7, 4, 3, {}, False),
    "two_layers_h0": (6, 4, 5, 2, {"num_layers": 2}, True),
    "bidirectional": (3, 5, 6, 4, {"bidirectional": True}, True),
    "bi_two_layers_batch_first": (4, 3, 5, 2, {"num_layers": 2, "bidirectional": True, "batch_first": True}, True),
    "batch_first_no_bias": (7, 6, 3, 5, {"batch_first": True, "bias": False}, False),
    "unbatched": (4, 5, 6, None, {"num_layers": 2}, True),
    "unbatched_bi": (3, 4, 5, None, {"bidirectional": True}, False),
    "odd_sizes": (33, 1, 7, 1, {}, True),
    "single_step": (2, 9, 1, 3, {"num_layers": 2, "bidirectional": True}, True),
}


def _input_shapes(cfg, kw):
    """Shapes of x, h0 and c0."""
    in_size, hidden, seq, batch, _, _ = cfg
    dirs = 2 if kw.get("bidirectional") else 1
    layers = kw.get("num_layers", 1)
    out = kw.get("proj_size") or hidden
    if batch is None:
        return (seq, in_size), (layers * dirs, out), (layers * dirs, hidden)
    x = (batch, seq, in_size) if kw.get("batch_first") else (seq, batch, in_size)
    return x, (layers * dirs, batch, out), (layers * dirs, batch, hidden)


def _pair(torch, kind, cfg, dtype):
    cls, extra = KINDS[kind]
    kw = dict(cfg[4], **extra)
    if kw.get("proj_size") == -1:
        if cfg[1] < 2:
            pytest.skip("projections need hidden_size >= 2")
        kw["proj_size"] = cfg[1] // 2
    theirs = getattr(torch.nn, cls)(cfg[0], cfg[1], **kw).to(getattr(torch, np.dtype(dtype).name))
    ours = getattr(nn, cls)(cfg[0], cfg[1], **kw).to(tf.float64 if dtype == np.float64 else tf.float32)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs, kw


def _leaves(torch, arrays):
    return [tf.tensor(a, requires_grad=True) for a in arrays], [torch.tensor(a, requires_grad=True) for a in arrays]


def _flat(out):
    """(output, h_n) or (output, (h_n, c_n)) -> [output, h_n(, c_n)]."""
    o, h = out
    return [o] + (list(h) if isinstance(h, tuple) else [h])


def _check_grads(ours_out, theirs_out, our_leaves, their_leaves, ours, theirs, rng, dtype, torch, ref=None):
    """Outputs, then the gradients of a random projection of them, ours against torch's. With `ref`
    (the same model and inputs run by torch in float64: its outputs, leaves and module), ours and
    torch's float32 values are both measured against float64 relative to the reference's norm, but
    never to less than REF_SCALE_FLOOR (the values here are O(0.1-1): a reference below it is a
    near-cancelling sum, e.g. a one-element h0 gradient of 1.4e-4, whose float32 error is set by
    the terms, not by the result); ours may be off by TOL or four times torch's own error, whichever
    is larger. A wrong value stays far beyond either bound."""
    tol = TOL[dtype]

    def check(ours_value, theirs_value, ref_value):
        if ref_value is None:
            assert_close(ours_value, theirs_value, tol)
            return
        assert ours_value.shape == ref_value.shape
        scale = max(np.linalg.norm(ref_value), REF_SCALE_FLOOR)
        err, torch_err = (np.linalg.norm(np.float64(v) - ref_value) / scale for v in (ours_value, theirs_value))
        assert err <= max(tol, 4 * torch_err), f"error {err:.3e} (torch's {torch_err:.3e}) > {tol:.1e}"

    ref_out, ref_leaves, ref_module = ref if ref is not None else ([None] * len(theirs_out), [None] * len(their_leaves), None)
    for o, t, r in zip(ours_out, theirs_out, ref_out):
        assert tuple(o.shape) == tuple(t.shape)
        check(o.detach().numpy(), t.detach().numpy(), None if r is None else r.detach().numpy())
    seeds = [rng.standard_normal(t.shape).astype(dtype) for t in theirs_out]
    loss_o = sum((o * tf.tensor(s)).sum() for o, s in zip(ours_out, seeds))
    loss_t = sum((t * torch.tensor(s)).sum() for t, s in zip(theirs_out, seeds))
    loss_o.backward()
    loss_t.backward()
    if ref is not None:
        sum((r * torch.tensor(s.astype(np.float64))).sum() for r, s in zip(ref_out, seeds)).backward()
    for a, b, r in zip(our_leaves, their_leaves, ref_leaves):
        check(a.grad.numpy(), b.grad.numpy(), None if r is None else r.grad.numpy())
    theirs_params = dict(theirs.named_parameters())
    ref_params = dict(ref_module.named_parameters()) if ref is not None else {}
    names = [n for n, _ in ours.named_parameters()]
    assert names == list(theirs_params)
    for name, p in ours.named_parameters():
        assert p.grad is not None, name
        r = ref_params.get(name)
        check(p.grad.numpy(), theirs_params[name].grad.numpy(), None if r is None else r.grad.numpy())


def _run(module, leaves, kind):
    """The module on the input alone, with h0, or with (h0, c0)."""
    if len(leaves) == 1:
        return module(leaves[0])
    if kind.startswith("lstm"):
        return module(leaves[0], (leaves[1], leaves[2]))
    return module(leaves[0], leaves[1])


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg_name", list(CONFIGS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_matches_torch(kind, cfg_name, dtype, rng):
    torch = torch_module()
    cfg = CONFIGS[cfg_name]
    ours, theirs, kw = _pair(torch, kind, cfg, dtype)
    x_shape, h_shape, c_shape = _input_shapes(cfg, kw)
    # inputs scaled with the fan-in so the gates stay out of saturation, where float32's tanh
    # rounds 1 - h^2 to zero in one library and not in the other
    bound = min(2.0, 6.0 / cfg[0])
    arrays = [random_array(rng, x_shape, -bound, bound).astype(dtype)]
    if cfg[5]:
        arrays.append(random_array(rng, h_shape, -1, 1).astype(dtype))
        if kind.startswith("lstm"):
            arrays.append(random_array(rng, c_shape, -1, 1).astype(dtype))
    ol, tl = _leaves(torch, arrays)
    ref = None
    if dtype == np.float32:
        ref_module = copy.deepcopy(theirs).double()
        ref_leaves = [torch.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
        ref = (_flat(_run(ref_module, ref_leaves, kind)), ref_leaves, ref_module)
    _check_grads(_flat(_run(ours, ol, kind)), _flat(_run(theirs, tl, kind)), ol, tl, ours, theirs, rng, dtype,
                 torch, ref)


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_cells_match_torch(kind, batched, rng):
    torch = torch_module()
    cls = {"lstm": "LSTMCell", "gru": "GRUCell", "rnn_tanh": "RNNCell", "rnn_relu": "RNNCell"}[kind]
    kw = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
    theirs = getattr(torch.nn, cls)(6, 5, **kw).double()
    ours = getattr(nn, cls)(6, 5, **kw).double()
    ours.load_state_dict(theirs.state_dict())
    lead = (3,) if batched else ()
    arrays = [random_array(rng, lead + (6,)), random_array(rng, lead + (5,), -1, 1)]
    if kind == "lstm":
        arrays.append(random_array(rng, lead + (5,), -1, 1))
    ol, tl = _leaves(torch, arrays)
    # two steps, so the state fed back in is itself differentiated through
    if kind == "lstm":
        h_o, c_o = ours(ol[0], (ol[1], ol[2]))
        h_o, c_o = ours(ol[0] * 0.5, (h_o, c_o))
        h_t, c_t = theirs(tl[0], (tl[1], tl[2]))
        h_t, c_t = theirs(tl[0] * 0.5, (h_t, c_t))
        outs_o, outs_t = [h_o, c_o], [h_t, c_t]
    else:
        h_o = ours(ol[0], ol[1])
        h_t = theirs(tl[0], tl[1])
        outs_o, outs_t = [h_o, ours(ol[0] * 0.5, h_o)], [h_t, theirs(tl[0] * 0.5, h_t)]
    _check_grads(outs_o, outs_t, ol, tl, ours, theirs, rng, np.float64, torch)


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_cell_without_state_starts_from_zeros(kind, rng):
    cls = {"lstm": "LSTMCell", "gru": "GRUCell", "rnn_tanh": "RNNCell", "rnn_relu": "RNNCell"}[kind]
    kw = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
    cell = getattr(nn, cls)(4, 3, **kw).double()
    x = tf.tensor(random_array(rng, (2, 4)))
    zeros = tf.zeros(2, 3, dtype=tf.float64)
    if kind == "lstm":
        a, b = cell(x), cell(x, (zeros, zeros))
        for u, v in zip(a, b):
            assert_close(u.detach().numpy(), v.detach().numpy(), 1e-15)
    else:
        assert_close(cell(x).detach().numpy(), cell(x, zeros).detach().numpy(), 1e-15)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_sequence_gradcheck(kind, reverse, rng):
    seq, batch, in_size, hidden = 3, 2, 3, 2
    gates = {"lstm": 4, "gru": 3}.get(kind, 1)
    mk = lambda shape, lo=-1.0, hi=1.0: tf.tensor(random_array(rng, shape, lo, hi), requires_grad=True)  # noqa
    x = mk((seq, batch, in_size))
    h0 = mk((batch, hidden))
    w_ih, w_hh = mk((gates * hidden, in_size)), mk((gates * hidden, hidden))
    b_ih, b_hh = mk((gates * hidden,)), mk((gates * hidden,))
    if kind == "lstm":
        c0 = mk((batch, hidden))
        assert tf.autograd.gradcheck(lambda *a: rnn_ops.lstm_sequence(*a, reverse=reverse),
                                     [x, h0, c0, w_ih, w_hh, b_ih, b_hh])
        # no initial state and no bias
        assert tf.autograd.gradcheck(lambda x, a, b: rnn_ops.lstm_sequence(x, None, None, a, b, reverse=reverse),
                                     [x, w_ih, w_hh])
        # projections: W_hh is (4H, P), h0 (N, P), W_hr (P, H)
        hidden, proj = 3, 2
        w_hh, h0, w_hr = mk((4 * hidden, proj)), mk((batch, proj)), mk((proj, hidden))
        w_ih, b_ih, b_hh, c0 = mk((4 * hidden, in_size)), mk((4 * hidden,)), mk((4 * hidden,)), mk((batch, hidden))
        assert tf.autograd.gradcheck(lambda *a: rnn_ops.lstm_sequence(*a[:-1], reverse=reverse, w_hr=a[-1]),
                                     [x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr])
    elif kind == "gru":
        assert tf.autograd.gradcheck(lambda *a: rnn_ops.gru_sequence(*a, reverse=reverse),
                                     [x, h0, w_ih, w_hh, b_ih, b_hh])
        assert tf.autograd.gradcheck(lambda x, a, b: rnn_ops.gru_sequence(x, None, a, b, reverse=reverse),
                                     [x, w_ih, w_hh])
    else:
        act = kind[4:]
        if act == "relu":  # keep pre-activations away from the kink
            x = tf.tensor(random_array(rng, (seq, batch, in_size), 0.2, 1.0), requires_grad=True)
            w_ih = tf.tensor(random_array(rng, (hidden, in_size), 0.2, 1.0), requires_grad=True)
        assert tf.autograd.gradcheck(lambda *a: rnn_ops.rnn_sequence(*a, reverse=reverse, nonlinearity=act),
                                     [x, h0, w_ih, w_hh, b_ih, b_hh])


def test_module_gradcheck_lstm_two_layers_bidirectional(rng):
    lstm = nn.LSTM(3, 2, num_layers=2, bidirectional=True).double()
    x = tf.tensor(random_array(rng, (3, 2, 3), -1, 1), requires_grad=True)
    h0 = tf.tensor(random_array(rng, (4, 2, 2), -1, 1), requires_grad=True)
    c0 = tf.tensor(random_array(rng, (4, 2, 2), -1, 1), requires_grad=True)

    def fn(x, h0, c0):
        out, (h, c) = lstm(x, (h0, c0))
        return out, h, c

    assert tf.autograd.gradcheck(fn, [x, h0, c0])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_dropout_between_layers(kind, rng):
    torch = torch_module()
    cls = KINDS[kind][0]
    # p=1 zeroes the second layer's input in training: deterministic, so torch must agree
    theirs = getattr(torch.nn, cls)(4, 3, num_layers=2, dropout=1.0).double()
    ours = getattr(nn, cls)(4, 3, num_layers=2, dropout=1.0).double()
    ours.load_state_dict(theirs.state_dict())
    x = random_array(rng, (5, 2, 4))
    ol, tl = _leaves(torch, [x])
    _check_grads(_flat(ours(ol[0])), _flat(theirs(tl[0])), ol, tl, ours, theirs, rng, np.float64, torch)
    # 0 < p < 1: random in training, reproducible under manual_seed, identity in eval
    ours = getattr(nn, cls)(4, 3, num_layers=2, dropout=0.5).double()
    xo = tf.tensor(x)
    run = lambda: ours(xo)[0].detach().numpy()  # noqa: E731
    tf.manual_seed(3)
    a = run()
    tf.manual_seed(3)
    b = run()
    c = run()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    ours.eval()
    np.testing.assert_array_equal(run(), run())


def test_dropout_with_one_layer_warns():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.LSTM(3, 4, dropout=0.2)


def test_parameters_names_shapes_and_init():
    lstm = nn.LSTM(10, 20, num_layers=2, bidirectional=True)
    shapes = {n: tuple(p.shape) for n, p in lstm.named_parameters()}
    assert list(shapes)[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert shapes["weight_ih_l0_reverse"] == (80, 10)
    assert shapes["weight_ih_l1"] == (80, 40)
    assert shapes["weight_hh_l1_reverse"] == (80, 20)
    assert len(shapes) == 16
    bound = 1 / math.sqrt(20)
    for p in lstm.parameters():
        d = p.detach().numpy()
        assert np.all(np.abs(d) <= bound) and d.std() > bound / 3
    assert len(lstm.all_weights) == 4 and len(lstm.all_weights[0]) == 4
    assert [n for n, _ in nn.GRU(3, 5, bias=False).named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    assert tuple(nn.GRU(3, 5).weight_hh_l0.shape) == (15, 5)
    assert tuple(nn.GRUCell(3, 5).weight_ih.shape) == (15, 3)
    assert tuple(nn.LSTMCell(3, 5).bias_hh.shape) == (20,)
    proj = nn.LSTM(3, 4, proj_size=2, bidirectional=True)
    assert [n for n, _ in proj.named_parameters()][:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                                          "weight_hr_l0"]
    assert tuple(proj.weight_hh_l0_reverse.shape) == (16, 2) and tuple(proj.weight_hr_l0_reverse.shape) == (2, 4)
    assert repr(nn.LSTM(3, 4, num_layers=2, batch_first=True)) == "LSTM(3, 4, num_layers=2, batch_first=True)"
    assert repr(nn.RNN(3, 4, nonlinearity="relu")) == "RNN(3, 4, nonlinearity='relu')"


def test_state_dict_round_trip_into_torch(rng):
    torch = torch_module()
    ours = nn.GRU(3, 4, num_layers=2, bidirectional=True).double()
    theirs = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True).double()
    theirs.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in ours.state_dict().items()})
    x = random_array(rng, (4, 2, 3))
    assert_close(ours(tf.tensor(x))[0].detach().numpy(), theirs(torch.tensor(x))[0].detach().numpy(), 1e-12)


def test_errors():
    lstm = nn.LSTM(4, 3, num_layers=2)
    with pytest.raises(ValueError, match="LSTM: Expected input to be 2D or 3D, got 4D instead"):
        lstm(tf.zeros(1, 2, 3, 4))
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D, got 1D"):
        nn.GRU(4, 3)(tf.zeros(4))
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 4, got 5"):
        lstm(tf.zeros(6, 2, 5))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(2, 2, 3\), got \[1, 2, 3\]"):
        lstm(tf.zeros(6, 2, 4), (tf.zeros(1, 2, 3), tf.zeros(2, 2, 3)))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(2, 2, 3\), got \[2, 2, 4\]"):
        lstm(tf.zeros(6, 2, 4), (tf.zeros(2, 2, 3), tf.zeros(2, 2, 4)))
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(2, 5, 3\), got \[2, 2, 3\]"):
        nn.GRU(4, 3, bidirectional=True, batch_first=True)(tf.zeros(5, 6, 4), tf.zeros(2, 2, 3))
    with pytest.raises(RuntimeError, match="For unbatched 2-D input, hx should also be 2-D but got 3-D"):
        nn.RNN(4, 3)(tf.zeros(6, 4), tf.zeros(1, 1, 3))
    with pytest.raises(RuntimeError, match="For batched 3-D input, hx should also be 3-D but got 2-D"):
        nn.RNN(4, 3)(tf.zeros(6, 2, 4), tf.zeros(1, 3))
    with pytest.raises(TypeError, match="tuple"):
        lstm(tf.zeros(6, 2, 4), tf.zeros(2, 2, 3))
    with pytest.raises(ValueError, match="input must have the type"):
        lstm(tf.zeros(6, 2, 4, dtype=tf.float64))
    with pytest.raises(RuntimeError, match="sequence length"):
        lstm(tf.zeros(0, 2, 4))
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(4, 3, proj_size=3)
    with pytest.raises(ValueError, match="only supported for LSTM"):
        nn.RNNBase("GRU", 4, 3, proj_size=2)
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 2, 2\), got \[1, 2, 3\]"):
        nn.LSTM(4, 3, proj_size=2)(tf.zeros(6, 2, 4), (tf.zeros(1, 2, 3), tf.zeros(1, 2, 3)))
    with pytest.raises(ValueError, match="Unknown nonlinearity"):
        nn.RNN(4, 3, nonlinearity="gelu")
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.GRU(4, 3, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        nn.LSTM(4, 0)
    with pytest.raises(ValueError, match="LSTMCell: Expected input to be 1D or 2D, got 3D"):
        nn.LSTMCell(4, 3)(tf.zeros(1, 2, 4))
    with pytest.raises(RuntimeError, match="GRUCell: input has inconsistent input_size: got 5 expected 4"):
        nn.GRUCell(4, 3)(tf.zeros(2, 5))
    with pytest.raises(RuntimeError, match=r"hidden state 1 has shape \[2, 4\], expected \[2, 3\]"):
        nn.LSTMCell(4, 3)(tf.zeros(2, 4), (tf.zeros(2, 3), tf.zeros(2, 4)))
    with pytest.raises(RuntimeError, match=r"hidden state 0 has shape \[3, 3\], expected \[2, 3\]"):
        nn.RNNCell(4, 3)(tf.zeros(2, 4), tf.zeros(3, 3))


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_backward_twice_with_retain_graph(kind, rng):
    cls, kw = KINDS[kind]
    model = getattr(nn, cls)(3, 4, bidirectional=True, **kw).double()
    x = tf.tensor(random_array(rng, (5, 2, 3)), requires_grad=True)
    out = model(x)[0]
    seed = tf.tensor(random_array(rng, tuple(out.shape)))
    (out * seed).sum().backward(retain_graph=True)
    first = x.grad.numpy().copy()
    (out * seed).sum().backward()
    assert_close(x.grad.numpy(), 2 * first, 1e-14)


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_no_grad_forward_matches(kind, rng):
    cls, kw = KINDS[kind]
    model = getattr(nn, cls)(3, 4, num_layers=2, **kw).double()
    x = tf.tensor(random_array(rng, (5, 2, 3)))
    with_graph = model(x)[0]
    with tf.no_grad():
        without = model(x)[0]
    assert with_graph.requires_grad and not without.requires_grad
    np.testing.assert_array_equal(with_graph.detach().numpy(), without.numpy())
