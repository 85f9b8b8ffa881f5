"""default_collate: turns a list of samples into a batch, following PyTorch's rules.

Tensors and numpy arrays are stacked along a new first dimension, Python floats become a float64
tensor, ints an int64 tensor, bools a bool tensor, strings stay a list; dicts, tuples and lists
are collated field by field (a tuple of fields comes back as a list, as in PyTorch).
"""
import collections.abc

import numpy as np

from .._backend import xp
from .._creation import tensor
from ..tensor import Tensor, make


def _stack(arrays, kind):
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise RuntimeError(f"default_collate: {kind} in a batch must have equal shapes to be stacked, "
                           f"got {sorted(shapes)}")
    return xp(arrays[0]).stack(arrays)  # CUDA tensors in a dataset stack on their GPU


def default_collate(batch):
    if not isinstance(batch, collections.abc.Sequence) or len(batch) == 0:
        raise ValueError("default_collate expects a non-empty list of samples")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return make(_stack([t._data for t in batch], "tensors"))
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "USO":
            raise TypeError(f"default_collate: numpy arrays of dtype {elem.dtype} cannot become tensors")
        return tensor(_stack(batch, "numpy arrays"))
    if isinstance(elem, np.generic):
        return tensor(np.array(batch))
    if isinstance(elem, bool):
        return tensor(batch)
    if isinstance(elem, float):
        return tensor(batch, dtype=np.float64)
    if isinstance(elem, int):
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        sizes = {len(sample) for sample in batch}
        if len(sizes) > 1:
            raise RuntimeError("default_collate: each element in the batch should be of equal size, "
                               f"got sizes {sorted(sizes)}")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(elem).__name__}")
