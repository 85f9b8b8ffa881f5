"""Tensor creation: tensor/from_numpy/zeros/ones/full/empty/rand/randn/randint/arange/linspace/eye,
the *_like forms, and the global random generator behind manual_seed."""
import numpy as np

from . import _dtype
from ._backend import build_on, device as _device, module_for, to_device
from .tensor import Tensor, make

_generator = np.random.default_rng()


def manual_seed(seed):
    """Seeds the generator behind rand/randn/randint/normal_/uniform_ (and dropout), for reproducibility."""
    global _generator
    _generator = np.random.default_rng(int(seed))
    _cuda_states.clear()
    return _generator


def default_generator():
    return _generator


_cuda_states = {}  # device index -> cupy RandomState, seeded from _generator on first use


def _cuda_random_state(dev):
    """The cupy RandomState behind random numbers on CUDA device `dev`, seeded from the CPU generator
    (so manual_seed makes CUDA randomness reproducible too)."""
    cupy, ctx = module_for(dev)
    with ctx:
        idx = cupy.cuda.Device().id
        rs = _cuda_states.get(idx)
        if rs is None:
            rs = _cuda_states[idx] = cupy.random.RandomState(int(_generator.integers(2**63)))
    return rs


def random_on(dev, method, *args, **kwargs):
    """`method` (random_sample, standard_normal, uniform, normal, randint) of the generator for `dev`:
    the global numpy Generator on the CPU, a per-GPU cupy RandomState on CUDA."""
    if dev is None or _device(dev).type == "cpu":
        name = {"random_sample": "random", "standard_normal": "standard_normal", "uniform": "uniform",
                "normal": "normal", "randint": "integers"}[method]
        return getattr(_generator, name)(*args, **kwargs)
    _, ctx = module_for(dev)
    with ctx:
        return getattr(_cuda_random_state(dev), method)(*args, **kwargs)


def _np_dtype(dtype, default=None):
    if dtype is None:
        return None if default is None else np.dtype(default)
    return _dtype.to_numpy_dtype(dtype)


def _to_array(data, dtype):
    """A fresh numpy array for tensor(data): Python floats become float32, ints int64, like PyTorch."""
    npd = _np_dtype(dtype)
    if isinstance(data, Tensor):
        data = data._data
    if not isinstance(data, np.ndarray) and hasattr(data, "__cuda_array_interface__"):
        return data.astype(npd) if npd is not None else data.copy()
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
    t = make(to_device(arr, device))
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
    return _finish(build_on(device, "zeros", _size(size), _np_dtype(dtype, np.float32)), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _finish(build_on(device, "ones", _size(size), _np_dtype(dtype, np.float32)), requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return _finish(build_on(device, "empty", _size(size), _np_dtype(dtype, np.float32)), requires_grad)


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
    return _finish(build_on(device, "full", _size((size,)), fill_value, npd), requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None):
    npd = _np_dtype(dtype, np.float32)
    _require_float(npd, "rand")
    return _finish(_random(generator, device, "random_sample", _size(size), dtype=npd), requires_grad, device)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None):
    npd = _np_dtype(dtype, np.float32)
    _require_float(npd, "randn")
    return _finish(_random(generator, device, "standard_normal", _size(size), dtype=npd), requires_grad, device)


def _random(generator, device, method, *args, **kwargs):
    """Random numbers on `device`; an explicit numpy `generator` draws on the host (then uploads)."""
    if generator is None:
        return random_on(device, method, *args, **kwargs)
    name = {"random_sample": "random", "standard_normal": "standard_normal", "randint": "integers"}[method]
    return getattr(generator, name)(*args, **kwargs)


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
    arr = _random(generator, device, "randint", low, high, _size((size,)), dtype=np.int64).astype(npd)
    return _finish(arr, requires_grad, device)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    is_float = any(isinstance(v, float) for v in (start, end, step))
    npd = _np_dtype(dtype, np.float32 if is_float else np.int64)
    return _finish(build_on(device, "arange", start, end, step, dtype=np.float64 if is_float else np.int64).astype(npd),
                   requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    npd = _np_dtype(dtype, np.float32)
    return _finish(build_on(device, "linspace", start, end, int(steps), dtype=np.float64).astype(npd), requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _finish(build_on(device, "eye", n, m, dtype=_np_dtype(dtype, np.float32)), requires_grad)


def _like_dtype(x, dtype):
    return _np_dtype(dtype, x._data.dtype)


def _like_device(x, device):
    """The *_like functions create on x's device unless told otherwise (PyTorch's rule)."""
    return x.device if device is None else device


def zeros_like(x, dtype=None, device=None, requires_grad=False):
    return zeros(x.shape, dtype=_like_dtype(x, dtype), device=_like_device(x, device), requires_grad=requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad=False):
    return ones(x.shape, dtype=_like_dtype(x, dtype), device=_like_device(x, device), requires_grad=requires_grad)


def empty_like(x, dtype=None, device=None, requires_grad=False):
    return empty(x.shape, dtype=_like_dtype(x, dtype), device=_like_device(x, device), requires_grad=requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False):
    return _finish(build_on(_like_device(x, device), "full", x.shape, fill_value, _like_dtype(x, dtype)),
                   requires_grad)


def rand_like(x, dtype=None, device=None, requires_grad=False):
    return rand(x.shape, dtype=dtype or x.dtype, device=_like_device(x, device), requires_grad=requires_grad)


def randn_like(x, dtype=None, device=None, requires_grad=False):
    return randn(x.shape, dtype=dtype or x.dtype, device=_like_device(x, device), requires_grad=requires_grad)


def randint_like(x, low=0, high=None, dtype=None, device=None, requires_grad=False):
    if high is None:
        low, high = 0, low
    return randint(low, high, x.shape, dtype=dtype or x.dtype, device=_like_device(x, device),
                   requires_grad=requires_grad)
