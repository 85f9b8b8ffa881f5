"""The recurrent layers' math: one fused autograd node per layer and direction for a whole sequence.

Forward: the input projection of every time step is one GEMM (x (L*N, in) @ W_ih^T); each step
then adds h_{t-1} @ W_hh^T into its slice of that buffer (our GEMM with beta=1) and applies the
gate math in numpy, in place. Backward-through-time walks the steps in reverse with one GEMM per
step (dgates_t @ W_hh) for the recurrent gradient and the closed-form gate derivatives; the weight
gradients and the input gradient are then three GEMMs over the whole sequence.

The node's single output is what the layer returns: (L, N, H) hidden states in time order for
RNN and GRU; for LSTM one flat buffer holding the hidden states and then c_n, which
lstm_sequence hands out as two views. h_n is the last step's row (row L-1 forward, row 0 for the
reverse direction). LSTM projections (proj_size) add h_t = W_hr (o * tanh(c_t)) per step.

The forward steps multiply by W_hh^T copied once per call into a row-major array (the layout our
GEMM packs fastest); the backward steps use W_hh as stored.
"""

from .._backend import xp
from . import _kernels as kernels
from ..autograd import grad_mode
from ..autograd.function import Function
from ..tensor import make


def _sigmoid_(a):
    """In-place logistic function via 0.5 * tanh(a / 2) + 0.5 (no overflow for large |a|)."""
    m = xp(a)
    a *= 0.5
    m.tanh(a, out=a)
    a *= 0.5
    a += 0.5


def _arr(t):
    return None if t is None else xp(t._data).ascontiguousarray(t._data)


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
    m = xp(seq)
    length, _, hidden = seq.shape
    out = m.zeros((gate_size, hidden), seq.dtype)
    if length > 1:
        sel, prev = _prev_states(seq, reverse)
        kernels.gemm(dpre[sel].reshape(-1, gate_size).T, prev.reshape(-1, hidden), out)
    if h0 is not None:
        first = length - 1 if reverse else 0
        kernels.gemm(dpre[first].T, h0, out, beta=1.0)
    return out


def _input_grads(ctx, dpre, x, w_ih):
    """dX = dpre @ W_ih and dW_ih = dpre^T @ X over the whole sequence (each one GEMM)."""
    m = xp(x)
    length, batch, in_size = x.shape
    d2 = dpre.reshape(length * batch, -1)
    gx = gw = None
    if ctx.needs_input_grad[0]:
        gx = m.empty((length * batch, in_size), x.dtype)
        kernels.gemm(d2, w_ih, gx)
        gx = gx.reshape(length, batch, in_size)
    if ctx.needs_input_grad[3]:
        gw = m.empty(w_ih.shape, x.dtype)
        kernels.gemm(d2.T, x.reshape(length * batch, in_size), gw)
    return gx, gw


def _transposed(w, scale=None):
    """W^T as a C-contiguous array (our GEMM runs fastest on a row-major B), columns optionally
    scaled."""
    m = xp(w)
    out = m.empty((w.shape[1], w.shape[0]), w.dtype)
    if scale is None:
        out[...] = w.T
    else:
        m.multiply(w.T, scale, out=out)
    return out


def _input_projection(x, w_ih_t, bias):
    """x (L, N, in) @ W_ih^T (+ bias) for every step at once: (L, N, gates)."""
    m = xp(x)
    length, batch, in_size = x.shape
    gates = m.empty((length, batch, w_ih_t.shape[1]), x.dtype)
    kernels.gemm(x.reshape(length * batch, in_size), w_ih_t, gates.reshape(length * batch, -1))
    if bias is not None:
        gates += bias
    return gates


def _wrap(*arrays):
    return tuple(None if a is None else make(a) for a in arrays)


def _lstm_affine(hidden, dt, m):
    """sigmoid(z) = 0.5 * tanh(z / 2) + 0.5: the i, f, o rows of the weights and bias are halved
    (exact: a power of two), so one tanh over all four gates, one multiply and one add give the
    activations; the candidate g keeps tanh(z) (scale 1, shift 0)."""
    scale = m.full(4 * hidden, 0.5, dt)
    scale[2 * hidden:3 * hidden] = 1
    shift = scale.copy()
    shift[2 * hidden:3 * hidden] = 0
    return scale, shift


def _backward_factors_(p, a, act, c_prev, tanh_c, hidden):
    """The parts of one step's backward that do not depend on the incoming gradient:
    dgates = [dc * P_i, dc * P_f, dc * P_g, dh * P_o] and dc += dh * A, with
    P_i = g i (1 - i), P_f = c_prev f (1 - f), P_g = i (1 - g^2), P_o = tanh(c) o (1 - o),
    A = o (1 - tanh(c)^2); act holds the activations i, f, g, o."""
    m = xp(p)
    h2, h3 = 2 * hidden, 3 * hidden
    m.multiply(act, act, out=p)
    m.subtract(act, p, out=p)  # s (1 - s) for every gate; the g block is overwritten below
    p[:, :hidden] *= act[:, h2:h3]
    if c_prev is None:
        p[:, hidden:h2] = 0
    else:
        p[:, hidden:h2] *= c_prev
    p[:, h3:] *= tanh_c
    pg = p[:, h2:h3]
    m.multiply(act[:, h2:h3], act[:, h2:h3], out=pg)
    m.subtract(1, pg, out=pg)
    pg *= act[:, :hidden]
    m.multiply(tanh_c, tanh_c, out=a)
    m.subtract(1, a, out=a)
    a *= act[:, h3:]


class _LSTMSequence(Function):
    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse, track):
        xd, h0d, c0d = _arr(x), _arr(h0), _arr(c0)
        m = xp(xd)
        length, batch, _ = xd.shape
        hidden = w_ih.shape[0] // 4
        out_size = hidden if w_hr is None else w_hr.shape[0]
        dt = xd.dtype
        scale, shift = _lstm_affine(hidden, dt, m)
        bias = None
        if b_ih is not None:
            bias = (b_ih._data + b_hh._data) * scale
        gates = _input_projection(xd, (w_ih._data * scale[:, None]).T, bias)  # i, f, g, o
        whh_t = _transposed(w_hh._data, scale)
        n_seq = length * batch * out_size
        flat = m.empty(n_seq + batch * hidden, dt)  # hidden states (L, N, out_size), then c_n (N, H)
        seq = flat[:n_seq].reshape(length, batch, out_size)
        cells = (m.empty((batch, hidden), dt), m.empty((batch, hidden), dt))  # c_t and c_{t-1}, alternating
        tanh_c = m.empty((batch, hidden), dt)
        # with projections, o * tanh(c) before W_hr (the weight gradient of W_hr needs it)
        raw = seq if w_hr is None else m.empty((length, batch, hidden), dt)
        whr_t = None if w_hr is None else _transposed(w_hr._data)
        tmp = m.empty((batch, hidden), dt)
        # backward factors, filled while each step's values are in cache (see _backward_factors_)
        factors = m.empty_like(gates) if track else None
        dc_factor = m.empty((length, batch, hidden), dt) if track else None
        h2, h3 = 2 * hidden, 3 * hidden
        h_prev, c_prev = h0d, c0d
        for k, t in enumerate(_steps(length, reverse)):
            g = gates[t]
            if h_prev is not None:
                kernels.gemm(h_prev, whh_t, g, beta=1.0)
            m.tanh(g, out=g)
            g *= scale
            g += shift
            c = cells[k % 2]
            if c_prev is None:
                m.multiply(g[:, :hidden], g[:, h2:h3], out=c)
            else:
                m.multiply(g[:, hidden:h2], c_prev, out=c)
                m.multiply(g[:, :hidden], g[:, h2:h3], out=tmp)
                c += tmp
            m.tanh(c, out=tanh_c)
            m.multiply(g[:, h3:], tanh_c, out=raw[t])
            if whr_t is not None:
                kernels.gemm(raw[t], whr_t, seq[t])
            if track:
                _backward_factors_(factors[t], dc_factor[t], g, c_prev, tanh_c, hidden)
            h_prev, c_prev = seq[t], c
        flat[n_seq:] = c_prev.reshape(-1)
        out = make(flat)
        ctx.save_for_backward(x, w_ih, w_hh, out)
        ctx.arrays = (xd, h0d, m.ascontiguousarray(w_ih._data), m.ascontiguousarray(w_hh._data),
                      gates[..., hidden:h2], factors, dc_factor, raw,
                      None if w_hr is None else m.ascontiguousarray(w_hr._data))
        ctx.has_bias = b_ih is not None
        ctx.reverse = reverse
        ctx.out_size = out_size
        return out

    @staticmethod
    def backward(ctx, grad):
        xd, h0d, wih, whh, forget, p, a, raw, whr = ctx.arrays
        m = xp(xd)
        flat = ctx.saved_tensors[3]._data
        reverse = ctx.reverse
        length, batch, hidden = forget.shape
        out_size = ctx.out_size
        n_seq = length * batch * out_size
        seq = flat[:n_seq].reshape(length, batch, out_size)
        dt = xd.dtype
        g = grad._data
        dh_all = m.array(g[:n_seq].reshape(length, batch, out_size), dtype=dt, order="C", copy=True)
        dc = m.array(g[n_seq:].reshape(batch, hidden), dtype=dt, order="C", copy=True)
        p4 = p.reshape(length, batch, 4, hidden)
        dpre = m.empty_like(p)
        d4 = dpre.reshape(length, batch, 4, hidden)
        tmp = m.empty((batch, hidden), dt)
        draw = None if whr is None else m.empty((batch, hidden), dt)
        h3 = 3 * hidden
        dc3 = dc[:, None, :]
        later = None
        for t in _steps(length, not reverse):
            dh = dh_all[t]
            if later is not None:
                kernels.gemm(dpre[later], whh, dh, beta=1.0)
            if draw is not None:  # through the projection h = W_hr (o * tanh(c))
                kernels.gemm(dh, whr, draw)
                dh = draw
            m.multiply(dh, a[t], out=tmp)
            dc += tmp
            m.multiply(dc3, p4[t, :, :3], out=d4[t, :, :3])
            m.multiply(dh, p[t, :, h3:], out=dpre[t, :, h3:])
            dc *= forget[t]
            later = t
        need = ctx.needs_input_grad
        gx, gwih = _input_grads(ctx, dpre, xd, wih)
        gh0 = gc0 = gwhh = gb = gb2 = gwhr = None
        if need[1]:
            gh0 = m.empty((batch, out_size), dt)
            kernels.gemm(dpre[later], whh, gh0)
        if need[2]:
            gc0 = dc
        if need[4]:
            gwhh = _grad_w_hh(dpre, seq, h0d, reverse, 4 * hidden)
        if ctx.has_bias and (need[5] or need[6]):
            gb = dpre.sum(axis=(0, 1))
            gb2 = gb.copy()
        if whr is not None and need[7]:
            gwhr = m.empty(whr.shape, dt)
            kernels.gemm(dh_all.reshape(-1, out_size).T, raw.reshape(-1, hidden), gwhr)
        return _wrap(gx, gh0, gc0, gwih, gwhh, gb, gb2, gwhr) + (None, None)


class _GRUSequence(Function):
    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, reverse):
        xd, h0d = _arr(x), _arr(h0)
        m = xp(xd)
        length, batch, _ = xd.shape
        hidden = w_hh.shape[1]
        wih, whh = m.ascontiguousarray(w_ih._data), m.ascontiguousarray(w_hh._data)
        whh_t = _transposed(whh)
        dt = xd.dtype
        h2 = 2 * hidden
        bias = b_hn = None
        if b_ih is not None:
            bias = b_ih._data.copy()
            bias[:h2] += b_hh._data[:h2]
            b_hn = b_hh._data[h2:]
        gates = _input_projection(xd, wih.T, bias)  # r, z, n: input parts, then activations
        hn = m.empty((length, batch, hidden), dt)  # W_hn h + b_hn per step
        out_seq = m.empty((length, batch, hidden), dt)
        hh = m.empty((batch, 3 * hidden), dt)
        tmp = m.empty((batch, hidden), dt)
        h_prev = h0d
        for t in _steps(length, reverse):
            g = gates[t]
            if h_prev is not None:
                kernels.gemm(h_prev, whh_t, hh)
                g[:, :h2] += hh[:, :h2]
                if b_hn is None:
                    hn[t] = hh[:, h2:]
                else:
                    m.add(hh[:, h2:], b_hn, out=hn[t])
            else:
                hn[t] = 0 if b_hn is None else b_hn
            _sigmoid_(g[:, :h2])
            n = g[:, h2:]
            m.multiply(g[:, :hidden], hn[t], out=tmp)
            n += tmp
            m.tanh(n, out=n)
            # h = n + z * (h_prev - n)
            if h_prev is None:
                m.negative(n, out=tmp)
            else:
                m.subtract(h_prev, n, out=tmp)
            tmp *= g[:, hidden:h2]
            m.add(n, tmp, out=out_seq[t])
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
        m = xp(xd)
        seq = ctx.saved_tensors[3]._data
        reverse = ctx.reverse
        length, batch, hidden = seq.shape
        dt = xd.dtype
        h2 = 2 * hidden
        dh_all = m.array(grad._data, dtype=dt, order="C", copy=True)
        d_in = m.empty_like(gates)  # gradient of the input-side pre-activations
        d_hh = m.empty_like(gates)  # gradient of W_hh h + b_hh
        carry = m.empty((batch, hidden), dt)  # dh_t * z_t: the direct path to h_{t-1}
        tmp = m.empty((batch, hidden), dt)
        tmp2 = m.empty((batch, h2), dt)
        later = None
        for t in _steps(length, not reverse):
            dh = dh_all[t]
            if later is not None:
                dh += carry
                kernels.gemm(d_hh[later], whh, dh, beta=1.0)
            act = gates[t]
            r, z, n = act[:, :hidden], act[:, hidden:h2], act[:, h2:]
            first = t == (length - 1 if reverse else 0)
            h_prev = h0d if first else seq[t + 1 if reverse else t - 1]
            di, dhh = d_in[t], d_hh[t]
            dn = di[:, h2:]
            m.subtract(1, z, out=dn)
            dn *= dh
            m.multiply(n, n, out=tmp)
            m.subtract(1, tmp, out=tmp)
            dn *= tmp
            m.multiply(dn, r, out=dhh[:, h2:])
            m.multiply(dn, hn[t], out=dhh[:, :hidden])
            dz = dhh[:, hidden:h2]
            if h_prev is None:
                m.negative(n, out=dz)
            else:
                m.subtract(h_prev, n, out=dz)
            dz *= dh
            rz = act[:, :h2]
            m.subtract(1, rz, out=tmp2)
            tmp2 *= rz
            dhh[:, :h2] *= tmp2
            di[:, :h2] = dhh[:, :h2]
            m.multiply(dh, z, out=carry)
            later = t
        need = ctx.needs_input_grad
        gx, gwih = _input_grads(ctx, d_in, xd, wih)
        gh0 = gwhh = gb_ih = gb_hh = None
        if need[1]:
            gh0 = carry.copy()
            kernels.gemm(d_hh[later], whh, gh0, beta=1.0)
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
        m = xp(xd)
        length, batch, _ = xd.shape
        hidden = w_hh.shape[1]
        wih, whh = m.ascontiguousarray(w_ih._data), m.ascontiguousarray(w_hh._data)
        whh_t = _transposed(whh)
        bias = None if b_ih is None else b_ih._data + b_hh._data
        pre = _input_projection(xd, wih.T, bias)
        out_seq = m.empty((length, batch, hidden), xd.dtype)
        h_prev = h0d
        for t in _steps(length, reverse):
            g = pre[t]
            if h_prev is not None:
                kernels.gemm(h_prev, whh_t, g, beta=1.0)
            if relu:
                m.maximum(g, 0, out=out_seq[t])
            else:
                m.tanh(g, out=out_seq[t])
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
        m = xp(xd)
        seq = ctx.saved_tensors[3]._data
        reverse = ctx.reverse
        length, batch, hidden = seq.shape
        dpre = m.array(grad._data, dtype=xd.dtype, order="C", copy=True)
        later = None
        for t in _steps(length, not reverse):
            d = dpre[t]
            if later is not None:
                kernels.gemm(dpre[later], whh, d, beta=1.0)
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
            gh0 = m.empty((batch, hidden), xd.dtype)
            kernels.gemm(dpre[later], whh, gh0)
        if need[3]:
            gwhh = _grad_w_hh(dpre, seq, h0d, reverse, hidden)
        if ctx.has_bias and (need[4] or need[5]):
            gb = dpre.sum(axis=(0, 1))
            gb2 = gb.copy()
        return _wrap(gx, gh0, gwih, gwhh, gb, gb2) + (None, None)


def lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, w_hr=None):
    """One LSTM layer in one direction over x (L, N, in), optionally with projections (w_hr):
    returns the hidden states in time order (L, N, H or proj_size) and c_n (N, H), two views of
    the fused node's one output."""
    track = grad_mode.state.enabled and any(t is not None and t.requires_grad
                                            for t in (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr))
    flat = _LSTMSequence.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse, track)
    length, batch = x.shape[0], x.shape[1]
    out_size = w_hh.shape[1]
    n_seq = length * batch * out_size
    return flat[:n_seq].reshape(length, batch, out_size), flat[n_seq:].reshape(batch, -1)


def gru_sequence(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One GRU layer in one direction over x (L, N, in): returns the hidden states (L, N, H)."""
    return _GRUSequence.apply(x, h0, w_ih, w_hh, b_ih, b_hh, reverse)


def rnn_sequence(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False, nonlinearity="tanh"):
    """One Elman RNN layer (tanh or relu) in one direction over x (L, N, in): returns (L, N, H)."""
    return _RNNSequence.apply(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, nonlinearity == "relu")


__all__ = ["lstm_sequence", "gru_sequence", "rnn_sequence"]
