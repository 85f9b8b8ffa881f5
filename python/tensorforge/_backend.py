"""Array-module choice per tensor (numpy on the CPU, cupy on CUDA) and the device object."""
import sys

import numpy as np

_ndarray = np.ndarray


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


def check_cpu(dev):
    """Raises a clear error for devices this build cannot place tensors on yet."""
    if dev is not None and device(dev).type != "cpu":
        raise RuntimeError(f"tensorforge cannot create tensors on {dev} yet: only the CPU backend is available")
