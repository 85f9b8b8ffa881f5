"""The recurrent layers' math: one fused autograd node per layer and direction for a whole sequence.

Forward: the input projection of every time step is one GEMM (x (L*N, in) @ W_ih^T); each step
then adds h_{t-1} @ W_hh^T into its slice of that buffer (our GEMM with beta=1) and applies the
gate math in numpy, in place. Backward-through-time walks the steps in reverse with one GEMM per
step (dgates_t @ W_hh) for the recurrent gradient and the closed-form gate derivatives; the weight
gradients and the input gradient are then three GEMMs over the whole sequence.

The node's single output packs what the layer returns: (L, N, H) hidden states in time order
for RNN and GRU, plus one row holding c_n for LSTM ((L+1, N, H)). h_n is the last step's row
(row L-1 forward, row 0 for the reverse direction).

LSTM gates are computed internally in the order i, f, o, g (rows of the weights permuted once per
call) so that one call applies the sigmoid to three gates; gradients are permuted back.
"""
import numpy as np

from .. import _C
from ..autograd.function import Function
from ..tensor import make


def _sigmoid_(a):
    """In-place logistic function via 0.5 * tanh(a / 2) + 0.5 (no overflow for large |a|)."""
    a *= 0.5
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5


def _arr(t):
    return None if t is None else np.ascontiguousarray(t._data)


def _steps(length, reverse):
    return range(length - 1, -1, -1) if reverse else range(length)


def _prev_states(seq, reverse):
    """(steps whose previous hidden state lies in seq, those states): for the weight gradient."""
    if reverse:
        return slice(0, -1), seq[1:]
    return slice(1, None), seq[:-1]


def _grad_w_hh(dpre, seq, h0, reverse, gate_size):
    """sum_t dpre_t^T @ h_{t-1}: one GEMM over the steps with a stored previous state, plus the
    first step's h0 term when an initial state was given."""
    length, _, hidden = seq.shape
    out = np.zeros((gate_size, hidden), seq.dtype)
    if length > 1:
        sel, prev = _prev_states(seq, reverse)
        _C.gemm(dpre[sel].reshape(-1, gate_size).T, prev.reshape(-1, hidden), out)
    if h0 is not None:
        first = length - 1 if reverse else 0
        _C.gemm(dpre[first].T, h0, out, beta=1.0)
    return out


def _input_grads(ctx, dpre, x, w_ih):
    """dX = dpre @ W_ih and dW_ih = dpre^T @ X over the whole sequence (each one GEMM)."""
    length, batch, in_size = x.shape
    d2 = dpre.reshape(length * batch, -1)
    gx = gw = None
    if ctx.needs_input_grad[0]:
        gx = np.empty((length * batch, in_size), x.dtype)
        _C.gemm(d2, w_ih, gx)
        gx = gx.reshape(length, batch, in_size)
    if ctx.needs_input_grad[3]:
        gw = np.empty(w_ih.shape, x.dtype)
        _C.gemm(d2.T, x.reshape(length * batch, in_size), gw)
    return gx, gw


def _input_projection(x, w_ih, bias):
    length, batch, in_size = x.shape
    gates = np.empty((length, batch, w_ih.shape[0]), x.dtype)
    _C.gemm(x.reshape(length * batch, in_size), w_ih.T, gates.reshape(length * batch, -1))
    if bias is not None:
        gates += bias
    return gates


def _wrap(*arrays):
    return tuple(None if a is None else make(a) for a in arrays)


def _lstm_perm(hidden):
    """Row order i, f, o, g out of PyTorch's i, f, g, o."""
    r = np.arange(hidden)
    return np.concatenate([r, r + hidden, r + 3 * hidden, r + 2 * hidden])


class _LSTMSequence(Function):
    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse):
        xd, h0d, c0d = _arr(x), _arr(h0), _arr(c0)
        length, batch, _ = xd.shape
        hidden = w_hh.shape[1]
        perm = _lstm_perm(hidden)
        wih, whh = w_ih._data[perm], w_hh._data[perm]
        bias = None
        if b_ih is not None:
            bias = (b_ih._data + b_hh._data)[perm]
        gates = _input_projection(xd, wih, bias)  # (L, N, 4H): pre-activations, then activations
        dt = xd.dtype
        packed = np.empty((length + 1, batch, hidden), dt)
        cells = np.empty((length, batch, hidden), dt)
        tanh_c = np.empty((length, batch, hidden), dt)
        tmp = np.empty((batch, hidden), dt)
        h3 = 3 * hidden
        h_prev, c_prev = h0d, c0d
        for t in _steps(length, reverse):
            g = gates[t]
            if h_prev is not None:
                _C.gemm(h_prev, whh.T, g, beta=1.0)
            _sigmoid_(g[:, :h3])
            cand = g[:, h3:]
            np.tanh(cand, out=cand)
            c = cells[t]
            np.multiply(g[:, :hidden], cand, out=c)
            if c_prev is not None:
                np.multiply(g[:, hidden:2 * hidden], c_prev, out=tmp)
                c += tmp
            np.tanh(c, out=tanh_c[t])
            np.multiply(g[:, 2 * hidden:h3], tanh_c[t], out=packed[t])
            h_prev, c_prev = packed[t], c
        packed[length] = c_prev
        out = make(packed)
        ctx.save_for_backward(x, w_ih, w_hh, out)
        ctx.arrays = (xd, h0d, c0d, wih, whh, perm, gates, cells, tanh_c)
        ctx.has_bias = b_ih is not None
        ctx.reverse = reverse
        return out

    @staticmethod
    def backward(ctx, grad):
        xd, h0d, c0d, wih, whh, perm, gates, cells, tanh_c = ctx.arrays
        packed = ctx.saved_tensors[3]._data
        reverse = ctx.reverse
        length, batch, hidden = cells.shape
        dt = xd.dtype
        g = grad._data
        dh_all = np.array(g[:length], dtype=dt, order="C", copy=True)
        dc = np.array(g[length], dtype=dt, order="C", copy=True)
        dpre = np.empty_like(gates)
        tmp = np.empty((batch, hidden), dt)
        tmp3 = np.empty((batch, 3 * hidden), dt)
        h3 = 3 * hidden
        later = None
        for t in _steps(length, not reverse):
            dh = dh_all[t]
            if later is not None:
                _C.gemm(dpre[later], whh, dh, beta=1.0)
            act = gates[t]
            s, cand = act[:, :h3], act[:, h3:]
            tc = tanh_c[t]
            # dc += dh * o * (1 - tanh(c)^2)
            np.multiply(tc, tc, out=tmp)
            np.subtract(1, tmp, out=tmp)
            tmp *= s[:, 2 * hidden:]
            tmp *= dh
            dc += tmp
            d = dpre[t]
            np.multiply(dc, cand, out=d[:, :hidden])  # d i
            first = t == (length - 1 if reverse else 0)
            c_prev = c0d if first else cells[t + 1 if reverse else t - 1]
            if c_prev is None:
                d[:, hidden:2 * hidden] = 0
            else:
                np.multiply(dc, c_prev, out=d[:, hidden:2 * hidden])  # d f
            np.multiply(dh, tc, out=d[:, 2 * hidden:h3])  # d o
            np.multiply(dc, s[:, :hidden], out=d[:, h3:])  # d g
            np.subtract(1, s, out=tmp3)
            tmp3 *= s
            d[:, :h3] *= tmp3
            np.multiply(cand, cand, out=tmp)
            np.subtract(1, tmp, out=tmp)
            d[:, h3:] *= tmp
            dc *= s[:, hidden:2 * hidden]
            later = t
        need = ctx.needs_input_grad
        gx, gwih_p = _input_grads(ctx, dpre, xd, wih)
        gh0 = gc0 = gwih = gwhh = gb = gb2 = None
        if need[1]:
            gh0 = np.empty((batch, hidden), dt)
            _C.gemm(dpre[later], whh, gh0)
        if need[2]:
            gc0 = dc
        if gwih_p is not None:
            gwih = np.empty_like(gwih_p)
            gwih[perm] = gwih_p
        if need[4]:
            gwhh_p = _grad_w_hh(dpre, packed[:length], h0d, reverse, 4 * hidden)
            gwhh = np.empty_like(gwhh_p)
            gwhh[perm] = gwhh_p
        if ctx.has_bias and (need[5] or need[6]):
            gb = np.empty(4 * hidden, dt)
            gb[perm] = dpre.sum(axis=(0, 1))
            gb2 = gb.copy()
        return _wrap(gx, gh0, gc0, gwih, gwhh, gb, gb2) + (None,)


class _GRUSequence(Function):
    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, reverse):
        xd, h0d = _arr(x), _arr(h0)
        length, batch, _ = xd.shape
        hidden = w_hh.shape[1]
        wih, whh = w_ih._data, w_hh._data
        dt = xd.dtype
        h2 = 2 * hidden
        bias = b_hn = None
        if b_ih is not None:
            bias = b_ih._data.copy()
            bias[:h2] += b_hh._data[:h2]
            b_hn = b_hh._data[h2:]
        gates = _input_projection(xd, wih, bias)  # r, z, n: input parts, then activations
        hn = np.empty((length, batch, hidden), dt)  # W_hn h + b_hn per step
        out_seq = np.empty((length, batch, hidden), dt)
        hh = np.empty((batch, 3 * hidden), dt)
        tmp = np.empty((batch, hidden), dt)
        h_prev = h0d
        for t in _steps(length, reverse):
            g = gates[t]
            if h_prev is not None:
                _C.gemm(h_prev, whh.T, hh)
                g[:, :h2] += hh[:, :h2]
                if b_hn is None:
                    hn[t] = hh[:, h2:]
                else:
                    np.add(hh[:, h2:], b_hn, out=hn[t])
            else:
                hn[t] = 0 if b_hn is None else b_hn
            _sigmoid_(g[:, :h2])
            n = g[:, h2:]
            np.multiply(g[:, :hidden], hn[t], out=tmp)
            n += tmp
            np.tanh(n, out=n)
            # h = n + z * (h_prev - n)
            if h_prev is None:
                np.negative(n, out=tmp)
            else:
                np.subtract(h_prev, n, out=tmp)
            tmp *= g[:, hidden:h2]
            np.add(n, tmp, out=out_seq[t])
            h_prev = out_seq[t]
        out = make(out_seq)
        ctx.save_for_backward(x, w_ih, w_hh, out)
        ctx.arrays = (xd, h0d, wih, whh, gates, hn)
        ctx.has_bias = b_ih is not None
        ctx.reverse = reverse
        return out

    @staticmethod
    def backward(ctx, grad):
        xd, h0d, wih, whh, gates, hn = ctx.arrays
        seq = ctx.saved_tensors[3]._data
        reverse = ctx.reverse
        length, batch, hidden = seq.shape
        dt = xd.dtype
        h2 = 2 * hidden
        dh_all = np.array(grad._data, dtype=dt, order="C", copy=True)
        d_in = np.empty_like(gates)  # gradient of the input-side pre-activations
        d_hh = np.empty_like(gates)  # gradient of W_hh h + b_hh
        carry = np.empty((batch, hidden), dt)  # dh_t * z_t: the direct path to h_{t-1}
        tmp = np.empty((batch, hidden), dt)
        tmp2 = np.empty((batch, h2), dt)
        later = None
        for t in _steps(length, not reverse):
            dh = dh_all[t]
            if later is not None:
                dh += carry
                _C.gemm(d_hh[later], whh, dh, beta=1.0)
            act = gates[t]
            r, z, n = act[:, :hidden], act[:, hidden:h2], act[:, h2:]
            first = t == (length - 1 if reverse else 0)
            h_prev = h0d if first else seq[t + 1 if reverse else t - 1]
            di, dhh = d_in[t], d_hh[t]
            dn = di[:, h2:]
            np.subtract(1, z, out=dn)
            dn *= dh
            np.multiply(n, n, out=tmp)
            np.subtract(1, tmp, out=tmp)
            dn *= tmp
            np.multiply(dn, r, out=dhh[:, h2:])
            np.multiply(dn, hn[t], out=dhh[:, :hidden])
            dz = dhh[:, hidden:h2]
            if h_prev is None:
                np.negative(n, out=dz)
            else:
                np.subtract(h_prev, n, out=dz)
            dz *= dh
            rz = act[:, :h2]
            np.subtract(1, rz, out=tmp2)
            tmp2 *= rz
            dhh[:, :h2] *= tmp2
            di[:, :h2] = dhh[:, :h2]
            np.multiply(dh, z, out=carry)
            later = t
        need = ctx.needs_input_grad
        gx, gwih = _input_grads(ctx, d_in, xd, wih)
        gh0 = gwhh = gb_ih = gb_hh = None
        if need[1]:
            gh0 = carry.copy()
            _C.gemm(d_hh[later], whh, gh0, beta=1.0)
        if need[3]:
            gwhh = _grad_w_hh(d_hh, seq, h0d, reverse, 3 * hidden)
        if ctx.has_bias:
            if need[4]:
                gb_ih = d_in.sum(axis=(0, 1))
            if need[5]:
                gb_hh = d_hh.sum(axis=(0, 1))
        return _wrap(gx, gh0, gwih, gwhh, gb_ih, gb_hh) + (None,)


class _RNNSequence(Function):
    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, reverse, relu):
        xd, h0d = _arr(x), _arr(h0)
        length, batch, _ = xd.shape
        hidden = w_hh.shape[1]
        wih, whh = w_ih._data, w_hh._data
        bias = None if b_ih is None else b_ih._data + b_hh._data
        pre = _input_projection(xd, wih, bias)
        out_seq = np.empty((length, batch, hidden), xd.dtype)
        h_prev = h0d
        for t in _steps(length, reverse):
            g = pre[t]
            if h_prev is not None:
                _C.gemm(h_prev, whh.T, g, beta=1.0)
            if relu:
                np.maximum(g, 0, out=out_seq[t])
            else:
                np.tanh(g, out=out_seq[t])
            h_prev = out_seq[t]
        out = make(out_seq)
        ctx.save_for_backward(x, w_ih, w_hh, out)
        ctx.arrays = (xd, h0d, wih, whh)
        ctx.has_bias = b_ih is not None
        ctx.reverse, ctx.relu = reverse, relu
        return out

    @staticmethod
    def backward(ctx, grad):
        xd, h0d, wih, whh = ctx.arrays
        seq = ctx.saved_tensors[3]._data
        reverse = ctx.reverse
        length, batch, hidden = seq.shape
        dpre = np.array(grad._data, dtype=xd.dtype, order="C", copy=True)
        later = None
        for t in _steps(length, not reverse):
            d = dpre[t]
            if later is not None:
                _C.gemm(dpre[later], whh, d, beta=1.0)
            h = seq[t]
            if ctx.relu:
                d *= h > 0
            else:
                d *= 1 - h * h
            later = t
        need = ctx.needs_input_grad
        gx, gwih = _input_grads(ctx, dpre, xd, wih)
        gh0 = gwhh = gb = gb2 = None
        if need[1]:
            gh0 = np.empty((batch, hidden), xd.dtype)
            _C.gemm(dpre[later], whh, gh0)
        if need[3]:
            gwhh = _grad_w_hh(dpre, seq, h0d, reverse, hidden)
        if ctx.has_bias and (need[4] or need[5]):
            gb = dpre.sum(axis=(0, 1))
            gb2 = gb.copy()
        return _wrap(gx, gh0, gwih, gwhh, gb, gb2) + (None, None)


def lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One LSTM layer in one direction over x (L, N, in): returns (L+1, N, H), the hidden states in
    time order and c_n as the last row."""
    return _LSTMSequence.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)


def gru_sequence(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One GRU layer in one direction over x (L, N, in): returns the hidden states (L, N, H)."""
    return _GRUSequence.apply(x, h0, w_ih, w_hh, b_ih, b_hh, reverse)


def rnn_sequence(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, nonlinearity="tanh"):
    """One Elman RNN layer (tanh or relu) in one direction over x (L, N, in): returns (L, N, H)."""
    return _RNNSequence.apply(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, nonlinearity == "relu")


__all__ = ["lstm_sequence", "gru_sequence", "rnn_sequence"]
