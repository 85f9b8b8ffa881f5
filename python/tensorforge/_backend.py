"""Array-module choice per tensor (numpy on the CPU, cupy on CUDA), the device object, and moving
arrays between devices.

A CPU tensor holds a numpy array, a CUDA tensor a cupy array; every op asks `xp(array)` for the
module that owns its input instead of calling numpy directly, so one code path serves both.
cupy is imported only when a CUDA device is asked for (`cuda_module()`), never by the CPU path.
"""
import sys

import numpy as np

_ndarray = np.ndarray

_INSTALL_HINT = ("pip install 'tensorforge[cuda]' (cupy-cuda13x; for a CUDA 12 driver "
                 "pip install cupy-cuda12x instead)")


def xp(array):
    """The array module (numpy or cupy) that owns `array`; cupy is imported only if already loaded."""
    if array.__class__ is _ndarray or isinstance(array, (_ndarray, np.generic)):
        return np
    cupy = sys.modules.get("cupy")
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy
    raise TypeError(f"expected a numpy or cupy array, got {type(array).__name__}")


class device:
    """Where a tensor lives: device('cpu'), device('cuda', 0)."""

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):  # noqa: A002 - PyTorch's argument name
        if isinstance(type, device):
            type, index = type.type, type.index
        elif isinstance(type, int) and not isinstance(type, bool):
            type, index = "cuda", type  # PyTorch: an int is a CUDA ordinal
        elif not isinstance(type, str):
            raise TypeError(f"device must be a str, an int or a tensorforge.device, got {type.__class__.__name__}")
        elif ":" in type:
            type, idx = type.split(":", 1)
            index = int(idx)
        if type not in ("cpu", "cuda"):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {type}")
        self.type = type
        self.index = index

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self):
        return hash((self.type, self.index or 0))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else f"device(type='{self.type}', index={self.index})"


CPU = device("cpu")


def device_of(array):
    return CPU if xp(array) is np else device("cuda", array.device.id)


def is_array(obj):
    """True for a numpy array or a cupy array (the two kinds a Tensor can hold)."""
    if isinstance(obj, _ndarray):
        return True
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(obj, cupy.ndarray)


# ---- CUDA availability ----------------------------------------------------------------------------------
def cuda_module():
    """cupy, once we know a CUDA tensor can exist: the build has CUDA, cupy imports and a GPU is visible.
    Otherwise a RuntimeError saying what is missing and how to get it."""
    from . import cuda

    if not cuda.is_built():
        raise RuntimeError("CUDA tensors need a tensorforge built with CUDA: this build has no CUDA kernels. "
                           "Rebuild with TENSORFORGE_CUDA=ON and nvcc on PATH (TENSORFORGE_CUDA=ON pip install .), "
                           f"and install cupy: {_INSTALL_HINT}")
    try:
        import cupy
    except ImportError:
        raise RuntimeError(f"CUDA tensors are backed by cupy, which is not installed: {_INSTALL_HINT}") from None
    if cuda.device_count() == 0:
        raise RuntimeError("CUDA tensors need an NVIDIA GPU, but the CUDA runtime sees none (no GPU or no driver); "
                           "tensorforge.cuda.is_available() is False")
    return cupy


def _cuda_index(dev):
    from . import cuda

    idx = dev.index or 0
    count = cuda.device_count()
    if idx >= count:
        raise RuntimeError(f"CUDA error: invalid device ordinal (cuda:{idx} requested, {count} visible)")
    return idx


def to_device(array, dev):
    """array on device `dev` (a device, str or None = where it is): the same array when it is there
    already, else a copy (numpy -> cupy upload, cupy -> numpy download, or cupy across GPUs)."""
    if dev is None:
        return array
    dev = device(dev)
    on_cpu = xp(array) is np
    if dev.type == "cpu":
        return array if on_cpu else array.get()
    cupy = cuda_module()
    idx = _cuda_index(dev)
    if not on_cpu and array.device.id == idx:
        return array
    with cupy.cuda.Device(idx):
        if not on_cpu:
            return cupy.array(array, copy=True)  # another GPU: a device-to-device copy (asarray would alias)
        return cupy.asarray(array if array.flags.c_contiguous else np.ascontiguousarray(array))


def check_same_device(*arrays):
    """Raises PyTorch's error when the arrays (None ignored) are not all on one device."""
    first = None
    for a in arrays:
        if a is None:
            continue
        if first is None:
            first = a
        elif xp(a) is not xp(first) or (xp(first) is not np and a.device.id != first.device.id):
            raise same_device_error(device_of(first), device_of(a))


def join_cpu_scalar(a, b, a_grad=False, b_grad=False):
    """(a, b) for a binary op: PyTorch lets a 0-d CPU tensor that needs no gradient join a CUDA tensor
    (it acts as a scalar, so it is uploaded); any other mix of devices raises the same-device error."""
    ma, mb = xp(a), xp(b)
    if ma is np and mb is not np and a.ndim == 0 and not a_grad:
        with mb.cuda.Device(b.device.id):
            return mb.asarray(a), b
    if mb is np and ma is not np and b.ndim == 0 and not b_grad:
        with ma.cuda.Device(a.device.id):
            return a, ma.asarray(b)
    check_same_device(a, b)
    return a, b


def same_device_error(d1, d2):
    if d1.type == "cpu":  # PyTorch names the CUDA device first
        d1, d2 = d2, d1
    return RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                        f"{_full_name(d1)} and {_full_name(d2)}!")


def _full_name(d):
    return "cpu" if d.type == "cpu" else f"cuda:{d.index or 0}"


def module_for(dev):
    """(array module, context) to allocate on device `dev` (None = the CPU): numpy and a no-op, or cupy
    and `cupy.cuda.Device(index)` entered around the allocation."""
    if dev is None or device(dev).type == "cpu":
        return np, _NO_CONTEXT
    cupy = cuda_module()
    return cupy, cupy.cuda.Device(_cuda_index(device(dev)))


def build_on(dev, name, *args, **kwargs):
    """`xp.<name>(*args, **kwargs)` (zeros, ones, full, eye, arange, ...) allocated on device `dev`."""
    m, ctx = module_for(dev)
    with ctx:
        return getattr(m, name)(*args, **kwargs)


class _NoContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NO_CONTEXT = _NoContext()
