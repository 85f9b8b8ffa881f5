"""RNN / LSTM / GRU over a PackedSequence, on the same fused per-layer sequence nodes (ops/rnn.py).

A packed batch (sorted by decreasing length) splits into time segments in which the number of
running sequences is constant: segment k covers steps [t0, t1) with the first b_k sequences.
Forward direction: the segments run in time order, each from the final states of the previous one
cut to its b_k rows; a sequence's h_n / c_n is its state at the end of the last segment it is in.
Reverse direction: the segments run from last to first; entering segment k, the carried states of
the longer sequences are joined by the initial states (h_0 rows or zeros) of the sequences whose
last step lies in segment k, so each sequence starts at its own last step, as PyTorch's packed
LSTM does. Segment outputs are time-major with the running sequences first, which is exactly the
packed layout, so the output data is their concatenation. The number of fused calls per layer and
direction is the number of distinct lengths.
"""
import numpy as np

from ..._creation import zeros
from ...ops import rnn as _ops
from ...ops.shape import cat, stack
from .. import functional as F
from ..utils.rnn import PackedSequence


def _segments(batch_sizes):
    """[(t0, t1, b)] for the runs of equal batch size."""
    segments, t0 = [], 0
    for t in range(1, len(batch_sizes) + 1):
        if t == len(batch_sizes) or batch_sizes[t] != batch_sizes[t0]:
            segments.append((t0, t, int(batch_sizes[t0])))
            t0 = t
    return segments


def _initial_rows(init, lo, hi, like, size):
    """Rows [lo, hi) of an initial state (sorted batch order), or zeros."""
    if init is not None:
        return init[lo:hi]
    return zeros((hi - lo, size), dtype=like.dtype, device=like.device)


def _run_direction(module, layer, direction, inputs, segments, h0, c0):
    """One layer and direction over the segment inputs; returns (segment outputs, h_n, c_n or None)."""
    w_ih, w_hh, b_ih, b_hh, w_hr = module._layer_params(layer, direction)
    lstm = module.mode == "LSTM"
    out_size, cell_size = w_hh.shape[1], module.hidden_size
    reverse = direction == 1
    order = range(len(segments) - 1, -1, -1) if reverse else range(len(segments))
    outputs = [None] * len(segments)
    h = c = None
    h_done, c_done = [], []  # forward: the rows that end in each segment, last segment first at the end
    for pos, k in enumerate(order):
        _, _, b = segments[k]
        x = inputs[k]
        if reverse:
            lo = 0 if h is None else h.shape[0]
            h_new = _initial_rows(h0, lo, b, x, out_size)
            h = h_new if h is None else cat([h, h_new], 0)
            if lstm:
                c_new = _initial_rows(c0, lo, b, x, cell_size)
                c = c_new if c is None else cat([c, c_new], 0)
        elif pos == 0:
            h, c = (None if h0 is None else h0[:b]), (None if c0 is None else c0[:b])
        else:
            h_done.append(h[b:])
            h = h[:b]
            if lstm:
                c_done.append(c[b:])
                c = c[:b]
        if lstm:
            seq, c = _ops.lstm_sequence(x, h, c, w_ih, w_hh, b_ih, b_hh, reverse, w_hr)
        elif module.mode == "GRU":
            seq = _ops.gru_sequence(x, h, w_ih, w_hh, b_ih, b_hh, reverse)
        else:
            seq = _ops.rnn_sequence(x, h, w_ih, w_hh, b_ih, b_hh, reverse,
                                    "relu" if module.mode == "RNN_RELU" else "tanh")
        outputs[k] = seq
        h = seq[0] if reverse else seq[-1]
    if reverse:
        return outputs, h, c
    h_n = cat([h] + h_done[::-1], 0)
    c_n = cat([c] + c_done[::-1], 0) if lstm else None
    return outputs, h_n, c_n


def run_packed(module, packed, h0, c0):
    """(output PackedSequence, h_n, c_n or None) of `module` over `packed`; h0 / c0 are
    (layers * directions, B, size) in the caller's batch order, or None."""
    batch_sizes = packed.batch_sizes.numpy().astype(np.int64)
    segments = _segments(batch_sizes)
    sorted_idx = None if packed.sorted_indices is None else packed.sorted_indices.numpy()
    unsorted_idx = None if packed.unsorted_indices is None else packed.unsorted_indices.numpy()
    if sorted_idx is not None:
        h0 = None if h0 is None else h0[:, sorted_idx]
        c0 = None if c0 is None else c0[:, sorted_idx]
    # the packed rows of segment k are a contiguous block, time-major with the running sequences first
    inputs, start = [], 0
    for t0, t1, b in segments:
        n = (t1 - t0) * b
        inputs.append(packed.data[start:start + n].reshape((t1 - t0, b, packed.data.shape[-1])))
        start += n
    directions = 2 if module.bidirectional else 1
    hs, cs = [], []
    for layer in range(module.num_layers):
        per_direction = []
        for direction in range(directions):
            k = layer * directions + direction
            outs, h_n, c_n = _run_direction(module, layer, direction, inputs, segments,
                                            None if h0 is None else h0[k], None if c0 is None else c0[k])
            per_direction.append(outs)
            hs.append(h_n)
            cs.append(c_n)
        inputs = per_direction[0] if directions == 1 else [cat(pair, 2) for pair in zip(*per_direction)]
        if module.dropout > 0 and module.training and layer < module.num_layers - 1:
            inputs = [F.dropout(x, module.dropout, True) for x in inputs]
    data = cat([x.reshape((-1, x.shape[-1])) for x in inputs], 0)
    h_n = stack(hs, 0)
    c_n = stack(cs, 0) if module.mode == "LSTM" else None
    if unsorted_idx is not None:
        h_n = h_n[:, unsorted_idx]
        c_n = None if c_n is None else c_n[:, unsorted_idx]
    return PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices), h_n, c_n

