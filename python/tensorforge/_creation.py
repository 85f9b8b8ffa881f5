"""Tensor creation: tensor/from_numpy/zeros/ones/full/empty/rand/randn/randint/arange/linspace/eye,
the *_like forms, and the global random generator behind manual_seed."""
import numpy as np

from . import _dtype
from ._backend import check_cpu
from .tensor import Tensor, make

_generator = np.random.default_rng()


def manual_seed(seed):
    """Seeds the generator behind rand/randn/randint/normal_/uniform_ (and dropout), for reproducibility."""
    global _generator
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator():
    return _generator


def _np_dtype(dtype, default=None):
    if dtype is None:
        return None if default is None else np.dtype(default)
    return _dtype.to_numpy_dtype(dtype)


def _to_array(data, dtype):
    """A fresh numpy array for tensor(data): Python floats become float32, ints int64, like PyTorch."""
    npd = _np_dtype(dtype)
    if isinstance(data, Tensor):
        return data._data.astype(npd) if npd is not None else data._data.copy()
    if isinstance(data, np.ndarray):
        arr = np.array(data, dtype=npd)
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(v, Tensor) for v in data):
            data = [v.tolist() if isinstance(v, Tensor) else v for v in data]
        arr = np.array(data, dtype=npd)
        if npd is None and arr.dtype == np.float64:
            arr = arr.astype(np.float32)
    if arr.dtype not in _dtype._BY_NP:
        fallback = _dtype._NP_FALLBACK.get(arr.dtype)
        if fallback is None:
            raise TypeError(f"can't convert data of dtype {arr.dtype} to a tensor; supported dtypes: "
                            f"{', '.join(d.name for d in _dtype.ALL)}")
        arr = arr.astype(fallback.np)
    return arr


def _finish(arr, requires_grad, device=None):
    check_cpu(device)
    t = make(arr)
    if requires_grad:
        t.requires_grad_()
    return t


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of data (a scalar, nested lists, a numpy array or a Tensor)."""
    return _finish(_to_array(data, dtype), requires_grad, device)


def as_tensor(data, dtype=None, device=None):
    """Like tensor() but shares memory with a numpy array (or Tensor) when no conversion is needed."""
    if isinstance(data, Tensor) and dtype is None:
        return data
    if isinstance(data, np.ndarray) and data.dtype in _dtype._BY_NP and (dtype is None or _np_dtype(dtype) == data.dtype):
        return _finish(data, False, device)
    return tensor(data, dtype, device)


def from_numpy(array):
    """A tensor sharing memory with the numpy array (writes to either show in both)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    _dtype.from_numpy_dtype(array.dtype)
    return make(array)


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    size = tuple(int(s) for s in size)
    for s in size:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
    return size


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _finish(np.zeros(_size(size), _np_dtype(dtype, np.float32)), requires_grad, device)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _finish(np.ones(_size(size), _np_dtype(dtype, np.float32)), requires_grad, device)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return _finish(np.empty(_size(size), _np_dtype(dtype, np.float32)), requires_grad, device)


def _scalar_dtype(value):
    if isinstance(value, (bool, np.bool_)):
        return np.bool_
    if isinstance(value, (int, np.integer)):
        return np.int64
    return np.float32


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    npd = _np_dtype(dtype, _scalar_dtype(fill_value))
    return _finish(np.full(_size((size,)), fill_value, npd), requires_grad, device)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None):
    npd = _np_dtype(dtype, np.float32)
    _require_float(npd, "rand")
    return _finish((generator or _generator).random(_size(size), dtype=npd), requires_grad, device)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None):
    npd = _np_dtype(dtype, np.float32)
    _require_float(npd, "randn")
    return _finish((generator or _generator).standard_normal(_size(size), dtype=npd), requires_grad, device)


def _require_float(npd, name):
    if npd.kind != "f":
        raise RuntimeError(f"{name}: expected a floating point dtype, got {npd}")


def randint(*args, size=None, dtype=None, device=None, requires_grad=False, generator=None):
    """randint(high, size) or randint(low, high, size): integers in [low, high)."""
    args = list(args)
    if size is None:
        if not args or not isinstance(args[-1], (tuple, list)):
            raise TypeError("randint() missing required argument 'size' (a tuple)")
        size = args.pop()
    if len(args) == 1:
        low, high = 0, args[0]
    elif len(args) == 2:
        low, high = args
    else:
        raise TypeError("randint(low=0, high, size)")
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    npd = _np_dtype(dtype, np.int64)
    arr = (generator or _generator).integers(low, high, _size((size,)), dtype=np.int64).astype(npd)
    return _finish(arr, requires_grad, device)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    is_float = any(isinstance(v, float) for v in (start, end, step))
    npd = _np_dtype(dtype, np.float32 if is_float else np.int64)
    return _finish(np.arange(start, end, step, dtype=np.float64 if is_float else np.int64).astype(npd),
                   requires_grad, device)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    npd = _np_dtype(dtype, np.float32)
    return _finish(np.linspace(start, end, int(steps), dtype=np.float64).astype(npd), requires_grad, device)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _finish(np.eye(n, m, dtype=_np_dtype(dtype, np.float32)), requires_grad, device)


def _like_dtype(x, dtype):
    return _np_dtype(dtype, x._data.dtype)


def zeros_like(x, dtype=None, device=None, requires_grad=False):
    return _finish(np.zeros(x.shape, _like_dtype(x, dtype)), requires_grad, device)


def ones_like(x, dtype=None, device=None, requires_grad=False):
    return _finish(np.ones(x.shape, _like_dtype(x, dtype)), requires_grad, device)


def empty_like(x, dtype=None, device=None, requires_grad=False):
    return _finish(np.empty(x.shape, _like_dtype(x, dtype)), requires_grad, device)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False):
    return _finish(np.full(x.shape, fill_value, _like_dtype(x, dtype)), requires_grad, device)


def rand_like(x, dtype=None, device=None, requires_grad=False):
    return rand(x.shape, dtype=dtype or x.dtype, device=device, requires_grad=requires_grad)


def randn_like(x, dtype=None, device=None, requires_grad=False):
    return randn(x.shape, dtype=dtype or x.dtype, device=device, requires_grad=requires_grad)


def randint_like(x, low=0, high=None, dtype=None, device=None, requires_grad=False):
    if high is None:
        low, high = 0, low
    return randint(low, high, x.shape, dtype=dtype or x.dtype, device=device, requires_grad=requires_grad)
