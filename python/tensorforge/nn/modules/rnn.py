"""Recurrent layers with PyTorch's names, parameters, gate order, shapes and initialisation:
RNN (tanh / relu), LSTM and GRU (stacked, bidirectional, batch_first, unbatched inputs,
inter-layer dropout, PackedSequence inputs: rnn_packed.py) and the single-step cells RNNCell,
LSTMCell and GRUCell.

Each layer and direction is one fused autograd node over the whole sequence (ops/rnn.py)."""
import math
import numbers
import warnings

from ..._creation import empty
from ...ops import rnn as _ops
from ...ops.shape import cat, stack
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..utils.rnn import PackedSequence
from .rnn_packed import run_packed
from ..parameter import Parameter
from .module import Module

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _shape(t):
    return list(t.shape)


class RNNBase(Module):
    """Holds the weights of a stacked, optionally bidirectional recurrent layer, named like
    PyTorch's: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, with a _reverse suffix
    for the backward direction."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if not isinstance(input_size, int) or input_size <= 0:
            raise ValueError(f"input_size must be a positive integer, got {input_size}")
        if not isinstance(proj_size, int) or proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size or hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else real_hidden * directions
            for direction in range(directions):
                suffix = "_reverse" if direction == 1 else ""
                shapes = [("weight_ih", (gate_size, layer_input)), ("weight_hh", (gate_size, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size:
                    shapes += [("weight_hr", (proj_size, hidden_size))]
                names = []
                for kind, shape in shapes:
                    name = f"{kind}_l{layer}{suffix}"
                    setattr(self, name, Parameter(empty(*shape, dtype=dtype, device=device)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    @property
    def all_weights(self):
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    @property
    def _flat_weights(self):
        return [getattr(self, name) for name in self._flat_weights_names]

    def _layer_params(self, layer, direction):
        suffix = "_reverse" if direction == 1 else ""
        get = lambda kind: getattr(self, f"{kind}_l{layer}{suffix}")  # noqa: E731
        w_hr = get("weight_hr") if self.proj_size else None
        if self.bias:
            return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"), w_hr
        return get("weight_ih"), get("weight_hh"), None, None, w_hr

    # ---- checks ---------------------------------------------------------------------------
    def _name(self):
        return {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(self.mode, self.mode)

    def _check_input(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"{self._name()}: input must be a Tensor, got {type(x).__name__}")
        if x.ndim not in (2, 3):
            raise ValueError(f"{self._name()}: Expected input to be 2D or 3D, got {x.ndim}D instead")
        w = self.weight_ih_l0
        if x.dtype is not w.dtype:
            raise ValueError(f"input must have the type {w.dtype}, got type {x.dtype}")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                               f"{x.shape[-1]}")

    def _check_hidden(self, hx, expected, msg):
        if not isinstance(hx, Tensor):
            raise TypeError(f"{self._name()}: the initial state must be a Tensor, got {type(hx).__name__}")
        if tuple(hx.shape) != tuple(expected):
            raise RuntimeError(msg.format(tuple(expected), _shape(hx)))
        if hx.dtype is not self.weight_ih_l0.dtype:
            raise ValueError(f"{self._name()}: the initial state must have the type {self.weight_ih_l0.dtype}, "
                             f"got type {hx.dtype}")

    def _forward_packed(self, packed, states):
        """(output PackedSequence, h_n, c_n or None) for a PackedSequence input."""
        data = packed.data
        if not isinstance(data, Tensor) or data.ndim != 2:
            raise ValueError(f"{self._name()}: a PackedSequence's data must be a 2-D Tensor (steps, input_size)")
        self._check_input(data)
        batch = int(packed.batch_sizes.numpy()[0])
        names = ("Expected hidden[0] size {}, got {}", "Expected hidden[1] size {}, got {}")
        for i, s in enumerate(states):
            if s is not None:
                msg = names[i] if self.mode == "LSTM" else "Expected hidden size {}, got {}"
                self._check_hidden(s, self._expected_hidden(batch, cell=i == 1), msg)
        return run_packed(self, packed, *states)

    def _prepare(self, x, states):
        """Time-major 3-D input and 3-D initial states (or None); checks shapes like PyTorch."""
        self._check_input(x)
        batched = x.ndim == 3
        name = self._name()
        for s in states:
            if s is None:
                continue
            if not isinstance(s, Tensor):
                raise TypeError(f"{name}: the initial state must be a Tensor, got {type(s).__name__}")
            if batched and s.ndim != 3:
                raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got {s.ndim}-D tensor")
            if not batched and s.ndim != 2:
                raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got {s.ndim}-D tensor")
        if not batched:
            x = x.unsqueeze(1)
            states = [None if s is None else s.unsqueeze(1) for s in states]
        elif self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[0] == 0:
            raise RuntimeError(f"{name}: Expected sequence length to be larger than 0, got input of shape "
                               f"{_shape(x)}")
        return x, states, batched

    def _expected_hidden(self, batch, cell=False):
        size = self.hidden_size if cell else (self.proj_size or self.hidden_size)
        return ((2 if self.bidirectional else 1) * self.num_layers, batch, size)

    def _run(self, x, h0, c0):
        """Runs every layer and direction; x is (L, N, in). Returns output, h_n, c_n (or None)."""
        directions = 2 if self.bidirectional else 1
        length = x.shape[0]
        lstm = self.mode == "LSTM"
        hs, cs = [], []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for direction in range(directions):
                k = layer * directions + direction
                w_ih, w_hh, b_ih, b_hh, w_hr = self._layer_params(layer, direction)
                h_init = None if h0 is None else h0[k]
                reverse = direction == 1
                last = 0 if reverse else length - 1
                if lstm:
                    c_init = None if c0 is None else c0[k]
                    seq, c_n = _ops.lstm_sequence(layer_in, h_init, c_init, w_ih, w_hh, b_ih, b_hh, reverse, w_hr)
                    cs.append(c_n)
                elif self.mode == "GRU":
                    seq = _ops.gru_sequence(layer_in, h_init, w_ih, w_hh, b_ih, b_hh, reverse)
                else:
                    seq = _ops.rnn_sequence(layer_in, h_init, w_ih, w_hh, b_ih, b_hh, reverse,
                                            "relu" if self.mode == "RNN_RELU" else "tanh")
                outs.append(seq)
                hs.append(seq[last])
            layer_out = outs[0] if directions == 1 else cat(outs, 2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_out = F.dropout(layer_out, self.dropout, True)
            layer_in = layer_out
        return layer_in, stack(hs, 0), (stack(cs, 0) if lstm else None)

    def _finish(self, output, batched):
        if not batched:
            return output.squeeze(1)
        return output.transpose(0, 1) if self.batch_first else output

    def forward(self, input, hx=None):  # noqa: A002 - PyTorch's argument name
        if isinstance(input, PackedSequence):
            output, h_n, _ = self._forward_packed(input, [hx, None])
            return output, h_n
        x, (h0,), batched = self._prepare(input, [hx])
        if h0 is not None:
            self._check_hidden(h0, self._expected_hidden(x.shape[1]), "Expected hidden size {}, got {}")
        output, h_n, _ = self._run(x, h0, None)
        return self._finish(output, batched), (h_n if batched else h_n.squeeze(1))

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory with PyTorch's gate order i, f, g, o:
    c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t)  (with proj_size > 0: h_t = W_hr (o * tanh(c_t))).
    forward(input, (h_0, c_0)) returns (output, (h_n, c_n))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device=device, dtype=dtype)

    def forward(self, input, hx=None):  # noqa: A002
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("LSTM: hx must be a tuple (h_0, c_0) of two Tensors")
            states = list(hx)
        else:
            states = [None, None]
        if isinstance(input, PackedSequence):
            output, h_n, c_n = self._forward_packed(input, states)
            return output, (h_n, c_n)
        x, (h0, c0), batched = self._prepare(input, states)
        if h0 is not None:
            self._check_hidden(h0, self._expected_hidden(x.shape[1]), "Expected hidden[0] size {}, got {}")
            self._check_hidden(c0, self._expected_hidden(x.shape[1], cell=True), "Expected hidden[1] size {}, got {}")
        output, h_n, c_n = self._run(x, h0, c0)
        if not batched:
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)
        return self._finish(output, batched), (h_n, c_n)


class GRU(RNNBase):
    """Gated recurrent unit with PyTorch's gate order r, z, n:
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


# ---- cells ------------------------------------------------------------------------------------
class RNNCellBase(Module):
    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(empty(num_chunks * hidden_size, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(empty(num_chunks * hidden_size, hidden_size, dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, dtype=dtype, device=device))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def _prepare(self, x, states):
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
        if x.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {x.ndim}D instead")
        if x.dtype is not self.weight_ih.dtype:
            raise ValueError(f"{name}: input must have the type {self.weight_ih.dtype}, got type {x.dtype}")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got {x.shape[-1]} expected "
                               f"{self.input_size}")
        batched = x.ndim == 2
        if not batched:
            x = x.unsqueeze(0)
        out_states = []
        for i, s in enumerate(states):
            if s is None:
                out_states.append(None)
                continue
            if not isinstance(s, Tensor):
                raise TypeError(f"{name}: hx must be a Tensor, got {type(s).__name__}")
            if s.ndim != (2 if batched else 1):
                raise RuntimeError(f"{name}: Expected hidden state {i} to be {2 if batched else 1}D for a "
                                   f"{2 if batched else 1}D input, got {s.ndim}D")
            if not batched:
                s = s.unsqueeze(0)
            if tuple(s.shape) != (x.shape[0], self.hidden_size):
                raise RuntimeError(f"{name}: hidden state {i} has shape {_shape(s)}, expected "
                                   f"{[x.shape[0], self.hidden_size]} (batch, hidden_size)")
            if s.dtype is not self.weight_ih.dtype:
                raise ValueError(f"{name}: hidden state {i} must have the type {self.weight_ih.dtype}, got type "
                                 f"{s.dtype}")
            out_states.append(s)
        return x.unsqueeze(0), out_states, batched

    def _params(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity='{self.nonlinearity}'"
        return s


def _squeeze_step(t, batched):
    return t if batched else t.squeeze(0)


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):  # noqa: A002
        x, (h,), batched = self._prepare(input, [hx])
        seq = _ops.rnn_sequence(x, h, *self._params(), nonlinearity=self.nonlinearity)
        return _squeeze_step(seq[0], batched)


class LSTMCell(RNNCellBase):
    """One LSTM step: forward(input, (h, c)) returns (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device=device, dtype=dtype)

    def forward(self, input, hx=None):  # noqa: A002
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("LSTMCell: hx must be a tuple (h, c) of two Tensors")
            states = list(hx)
        else:
            states = [None, None]
        x, (h, c), batched = self._prepare(input, states)
        seq, c_next = _ops.lstm_sequence(x, h, c, *self._params())
        return _squeeze_step(seq[0], batched), _squeeze_step(c_next, batched)


class GRUCell(RNNCellBase):
    """One GRU step: forward(input, h) returns h'."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device=device, dtype=dtype)

    def forward(self, input, hx=None):  # noqa: A002
        x, (h,), batched = self._prepare(input, [hx])
        seq = _ops.gru_sequence(x, h, *self._params())
        return _squeeze_step(seq[0], batched)


__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]
