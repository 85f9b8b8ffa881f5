"""A numpy-backed stand-in for cupy, for the device tests on machines without a GPU. Tests only.

It holds a numpy array inside an `ndarray` that is NOT a numpy subclass and behaves like cupy's where
a bug would show: converting it to numpy implicitly (np.asarray, np.exp(x), a numpy array in an
operator, assigning a numpy array into it, passing it to a CPU kernel) raises TypeError, as real cupy
does, so any op that touches device data with numpy, or mixes host and device arrays, fails the
"cuda (stand-in)" tests. Explicit transfers (asarray of a numpy array, asnumpy, .get()) work.

Module functions not written out here are numpy's, wrapped: device arguments are unwrapped, host
arrays refused, results wrapped. It covers the subset of cupy that tensorforge uses; it says nothing
about speed or about real GPU behaviour (streams, asynchrony, memory).
"""
import builtins
import types
import weakref

import numpy as _np

_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy "
             "array explicitly. (fake cupy stand-in)")


def _refuse_host(value, what):
    if isinstance(value, _np.ndarray):
        raise TypeError(f"Unsupported type {type(value)}: {what} mixes a host (numpy) array with a device "
                        "array (fake cupy stand-in)")


def _unwrap(value, what="this call"):
    """The numpy array behind device arrays, recursively in lists/tuples/dicts; host arrays refused."""
    if isinstance(value, ndarray):
        return value._a
    _refuse_host(value, what)
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, what) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v, what) for k, v in value.items()}
    return value


def _wrap(value):
    if isinstance(value, (_np.ndarray, _np.generic)):
        return ndarray(_np.asarray(value))  # cupy returns 0-d arrays where numpy returns scalars
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class _Device:
    """cupy.cuda.Device: one device, id 0; a context manager like cupy's."""

    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise RuntimeError(f"CUDA error: invalid device ordinal {self.id} (fake cupy stand-in has one device)")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def synchronize(self):
        pass

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


_DEVICE0 = _Device(0)


class _MemoryPool:
    """cupy's default memory pool, as far as tensorforge.cuda's memory queries use it: used_bytes() counts
    the live arrays that own their memory, total_bytes() also the blocks freed arrays left reserved until
    free_all_blocks()."""

    def __init__(self):
        self._used = self._reserved = 0

    def track(self, array):
        if array._a.base is None and array._a.nbytes:
            self._used += array._a.nbytes
            self._reserved = max(self._reserved, self._used)
            weakref.finalize(array, self._release, array._a.nbytes)

    def _release(self, nbytes):
        self._used -= nbytes

    def used_bytes(self):
        return self._used

    def total_bytes(self):
        return self._reserved

    def free_all_blocks(self):
        self._reserved = self._used


_POOL = _MemoryPool()


def get_default_memory_pool():
    return _POOL


def get_default_pinned_memory_pool():
    return types.SimpleNamespace(free_all_blocks=lambda: None)


class ndarray:  # noqa: N801 - cupy's name
    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100

    def __init__(self, a):
        if not isinstance(a, _np.ndarray):
            a = _np.asarray(a)
        self._a = a
        _POOL.track(self)

    # ---- what real cupy refuses ------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError(_IMPLICIT)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if builtins.any(isinstance(x, _np.ndarray) for x in inputs):
            return NotImplemented
        if method != "__call__":
            return NotImplemented
        return _wrap(getattr(_np, ufunc.__name__)(*_unwrap(inputs, ufunc.__name__), **_unwrap(kwargs)))

    def __array_function__(self, func, types_, args, kwargs):
        return NotImplemented  # numpy functions on device arrays: use cupy's (xp(x).func)

    # ---- metadata ---------------------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    device = property(lambda self: _DEVICE0)
    T = property(lambda self: ndarray(self._a.T))
    mT = property(lambda self: ndarray(_np.swapaxes(self._a, -1, -2)))
    real = property(lambda self: ndarray(self._a.real))

    @property
    def base(self):
        return None if self._a.base is None else ndarray(self._a.base)

    @property
    def __cuda_array_interface__(self):
        return {"shape": self._a.shape, "typestr": self._a.dtype.str, "data": (self._a.ctypes.data, False),
                "strides": self._a.strides if not self._a.flags.c_contiguous else None, "version": 3}

    def get(self, stream=None, order="C", out=None):
        return self._a.copy()

    def __getattr__(self, name):
        if name.startswith("__"):  # no __array_interface__ / __array_struct__ / buffer: numpy must not see in
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)

        def method(*args, **kwargs):
            return _wrap(attr(*_unwrap(args, name), **_unwrap(kwargs, name)))

        return method

    def item(self):
        return self._a.item()

    def tolist(self):
        return self._a.tolist()

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (ndarray(_np.asarray(v)) for v in self._a)

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return self._a.__index__()

    def __repr__(self):
        return "fake_cupy." + repr(self._a)

    def __getitem__(self, idx):
        return ndarray(_np.asarray(self._a[_index(idx)]))

    def __setitem__(self, idx, value):
        self._a[_index(idx)] = _unwrap(value, "__setitem__")

    def __copy__(self):
        return ndarray(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray(self._a.copy())


def _index(idx):
    if isinstance(idx, tuple):
        return tuple(_index(i) for i in idx)
    if isinstance(idx, ndarray):
        return idx._a
    if isinstance(idx, _np.ndarray):
        raise TypeError("indexing a device array with a host (numpy) array (fake cupy stand-in)")
    return idx


def _binary(name, reflected=False):
    op = getattr(_np.ndarray, name)

    def method(self, other):
        _refuse_host(other, name)
        if isinstance(other, ndarray):
            other = other._a
        elif not isinstance(other, (int, float, bool, complex, _np.generic)):
            return NotImplemented
        result = op(self._a, other)
        if result is NotImplemented:
            return result
        return _wrap(result) if isinstance(result, _np.ndarray) else _wrap(_np.asarray(result))

    method.__name__ = name
    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
              "lshift", "rshift"):
    for _prefix in ("__", "__r", "__i"):
        _full = f"{_prefix}{_name}__"
        if hasattr(_np.ndarray, _full):
            setattr(ndarray, _full, _binary(_full))
for _name in ("eq", "ne", "lt", "le", "gt", "ge"):
    setattr(ndarray, f"__{_name}__", _binary(f"__{_name}__"))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(ndarray, f"__{_name}__", (lambda n: lambda self: ndarray(_np.asarray(getattr(self._a, n)())))(
        f"__{_name}__"))
ndarray.__hash__ = None


# ---- module-level functions -------------------------------------------------------------------------
def asarray(a, dtype=None, order=None):
    """Device array from a device array (no copy when possible) or an explicit host upload."""
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    return ndarray(_np.array(a, dtype=dtype, order=order or "K", copy=True))


def array(a, dtype=None, copy=True, order="K", ndmin=0):
    if isinstance(a, ndarray):
        return ndarray(_np.array(a._a, dtype=dtype, copy=copy, order=order, ndmin=ndmin))
    return ndarray(_np.array(a, dtype=dtype, copy=True, order=order, ndmin=ndmin))


def asnumpy(a, stream=None, order="C", out=None):
    if isinstance(a, ndarray):
        return a._a.copy()
    return _np.asarray(a)


def _wrapped(fn, name):
    def call(*args, **kwargs):
        return _wrap(fn(*_unwrap(args, name), **_unwrap(kwargs, name)))

    call.__name__ = name
    return call


def __getattr__(name):
    try:
        attr = getattr(_np, name)
    except AttributeError:
        raise AttributeError(f"fake cupy has no attribute {name!r}") from None
    if isinstance(attr, type) or not callable(attr):
        return attr  # dtypes (float32, ...), constants (inf, pi, newaxis)
    fn = _wrapped(attr, name)
    globals()[name] = fn
    return fn


class _RandomState:
    """cupy.random.RandomState on numpy's, drawing in float64 and casting like cupy does for dtype=."""

    def __init__(self, seed=None):
        self._rs = _np.random.RandomState(seed % (2**32) if seed is not None else None)

    def random_sample(self, size=None, dtype=float):
        return ndarray(_np.asarray(self._rs.random_sample(size), dtype=dtype))

    def standard_normal(self, size=None, dtype=float):
        return ndarray(_np.asarray(self._rs.standard_normal(size), dtype=dtype))

    def uniform(self, low=0.0, high=1.0, size=None, dtype=float):
        return ndarray(_np.asarray(self._rs.uniform(low, high, size), dtype=dtype))

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=float):
        return ndarray(_np.asarray(self._rs.normal(loc, scale, size), dtype=dtype))

    def randint(self, low, high=None, size=None, dtype="l"):
        return ndarray(_np.asarray(self._rs.randint(low, high, size), dtype=dtype))


class _Stream:
    ptr = 0

    def synchronize(self):
        pass


class _Grid:
    """ogrid / mgrid, giving device arrays."""

    def __init__(self, grid):
        self._grid = grid

    def __getitem__(self, key):
        return _wrap(self._grid[key])


ogrid, mgrid = _Grid(_np.ogrid), _Grid(_np.mgrid)
random = types.SimpleNamespace(RandomState=_RandomState)
cuda = types.SimpleNamespace(Device=_Device, get_current_stream=lambda: _Stream(), Stream=_Stream,
                             runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
linalg = types.SimpleNamespace(**{n: _wrapped(getattr(_np.linalg, n), n) for n in ("qr", "norm", "inv", "solve")})


def _scatter_add(a, slices, value):
    """cupyx.scatter_add: a[slices] += value with repeated indices accumulating."""
    _np.add.at(a._a, _index(slices), _unwrap(value, "scatter_add"))


cupyx = types.SimpleNamespace(scatter_add=_scatter_add)
__version__ = "0.0-fake"
