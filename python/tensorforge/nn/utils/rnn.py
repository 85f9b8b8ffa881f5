"""Variable-length sequences for the recurrent layers, as torch.nn.utils.rnn: PackedSequence,
pack_padded_sequence, pad_packed_sequence, pad_sequence, pack_sequence.

A PackedSequence holds the steps of a batch of sequences sorted by decreasing length, time-major:
data is (sum of lengths, *) with, for each time step t, the batch_sizes[t] sequences still running
at t; sorted_indices[i] is the batch position of the i-th longest sequence (None when the batch was
already sorted) and unsorted_indices its inverse. Packing and unpacking are one row gather each, so
gradients flow through both.
"""
from collections import namedtuple

import numpy as np

from ..._creation import full
from ...ops.shape import cat, stack
from ...tensor import Tensor, make

_Fields = namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


class PackedSequence(_Fields):
    """(data, batch_sizes, sorted_indices, unsorted_indices); batch_sizes and the index tensors are
    int64 CPU tensors, as in PyTorch."""

    def to(self, *args, **kwargs):
        return self._replace(data=self.data.to(*args, **kwargs))

    @property
    def is_cuda(self):
        return self.data.device.type == "cuda"


def _int_array(values, what):
    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValueError(f"{what} must be a 1-D sequence of integers, got {arr.dtype} of shape {arr.shape}")
    return arr.astype(np.int64)


def _batch_sizes(lengths):
    """batch_sizes[t] = number of (sorted, decreasing) lengths greater than t."""
    steps = np.arange(int(lengths[0]))
    return (lengths[None, :] > steps[:, None]).sum(1).astype(np.int64)


def packed_rows(batch_sizes, batch):
    """For a (T, batch) grid flattened row-major: the flat positions of the packed steps, in order."""
    return np.concatenate([t * batch + np.arange(b) for t, b in enumerate(batch_sizes.tolist())])


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):  # noqa: A002
    """Packs a padded batch (T, B, *) ((B, T, *) with batch_first) of sequences of the given lengths."""
    if not isinstance(input, Tensor):
        raise TypeError(f"pack_padded_sequence: input must be a Tensor, got {type(input).__name__}")
    lengths = _int_array(lengths, "pack_padded_sequence: lengths")
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: input must have a time and a batch dimension, got shape "
                         f"{tuple(input.shape)}")
    if batch_first:
        input = input.transpose(0, 1)
    steps, batch = input.shape[0], input.shape[1]
    if len(lengths) != batch:
        raise ValueError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lengths)} "
                         f"(batch_size={batch})")
    if lengths.min() <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that "
                           "is <= 0")
    if lengths.max() > steps:
        raise RuntimeError(f"pack_padded_sequence: a length of {lengths.max()} exceeds the {steps} time steps of "
                           f"the input")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence "
                               "to sidestep this requirement if you do not need ONNX exportability.")
        sorted_indices = unsorted_indices = None
        order = np.arange(batch)
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = make(order)
        unsorted_indices = make(np.argsort(order))
    batch_sizes = _batch_sizes(lengths[order])
    flat = input.reshape((steps * batch,) + tuple(input.shape[2:]))
    rows = packed_rows(batch_sizes, batch)
    if sorted_indices is not None:  # position (t, i) of the sorted batch is row t * B + order[i]
        rows = (rows // batch) * batch + order[rows % batch]
    return PackedSequence(flat[rows], make(batch_sizes), sorted_indices, unsorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """(padded (T, B, *) or (B, T, *), lengths): the inverse of pack_padded_sequence, in the
    original batch order; T is the longest length, or total_length."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got {type(sequence).__name__}")
    data = sequence.data
    batch_sizes = _int_array(sequence.batch_sizes, "batch_sizes")
    batch, steps = int(batch_sizes[0]), len(batch_sizes)
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"Expected total_length to be at least the length of the longest sequence in the "
                             f"input, but got total_length={total_length} and max sequence length being {steps}")
        steps = int(total_length)
    # each grid cell reads its packed row, or the padding row appended after the data
    source = np.full(steps * batch, data.shape[0], dtype=np.int64)
    source[packed_rows(batch_sizes, batch)] = np.arange(data.shape[0])
    pad = full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    padded = cat([data, pad], 0)[source].reshape((steps, batch) + tuple(data.shape[1:]))
    lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(1)
    if sequence.unsorted_indices is not None:
        unsort = _int_array(sequence.unsorted_indices, "unsorted_indices")
        padded = padded[:, unsort]
        lengths = lengths[unsort]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, make(lengths.astype(np.int64))


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stacks tensors (L_i, *) into (T, B, *) ((B, T, *) with batch_first), padding to the longest."""
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence: received an empty list of sequences")
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    for i, s in enumerate(sequences):
        if not isinstance(s, Tensor) or s.ndim < 1:
            raise TypeError(f"pad_sequence: sequence {i} must be a Tensor with a time dimension")
        if tuple(s.shape[1:]) != tuple(sequences[0].shape[1:]):
            raise RuntimeError(f"pad_sequence: sequence {i} has trailing shape {tuple(s.shape[1:])}, sequence 0 has "
                               f"{tuple(sequences[0].shape[1:])}")
    steps = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = steps - s.shape[0]
        if missing:
            pad = full((missing,) + tuple(s.shape[1:]), padding_value, dtype=s.dtype, device=s.device)
            s = cat([s, pad] if padding_side == "right" else [pad, s], 0)
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted=True):
    """Packs a list of tensors (L_i, *) (by decreasing length unless enforce_sorted=False)."""
    sequences = list(sequences)
    lengths = [s.shape[0] if isinstance(s, Tensor) and s.ndim else 0 for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)
