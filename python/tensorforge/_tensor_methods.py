"""Binds the op functions onto Tensor as methods and operators (x.sum(), x + y, x[i] = v, ...)."""
from . import _dtype
from ._backend import device, device_of, to_device

_device = device
from .ops import elementwise as ew
from .ops import indexing, inplace, matmul, reduction, shape, softmax
from .autograd.function import Node
from .autograd.grad_mode import state
from .tensor import Tensor, edge, make


def _to(self, *args, **kwargs):
    """to(dtype), to(device), to(device, dtype), to(other); returns self when nothing changes."""
    dtype = kwargs.pop("dtype", None)
    dev = kwargs.pop("device", None)
    kwargs.pop("non_blocking", None)
    copy = kwargs.pop("copy", False)
    if kwargs:
        raise TypeError(f"to() got unexpected arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            dtype, dev = a.dtype, a.device
        elif isinstance(a, (_dtype.dtype, type)) or (a is not None and not isinstance(a, (str, device))):
            dtype = a
        else:
            dev = a
    out = self if dtype is None else ew.cast(self, _dtype.to_numpy_dtype(dtype))
    if dev is not None:
        out = _move(out, dev)
    return out.clone() if copy and out is self else out


def _move(t, dev):
    """t on device `dev`: t itself when it is there, else a copy that stays in the autograd graph
    (the gradient flows back to the original device, like PyTorch's to())."""
    data = to_device(t._data, dev)
    if data is t._data:
        return t
    return ToCopyBackward0.apply(t, data)


class ToCopyBackward0(Node):
    __slots__ = ("src",)

    @staticmethod
    def apply(t, data):
        out = make(data)
        if state.enabled and t.requires_grad:
            node = ToCopyBackward0((edge(t),))
            node.src = device_of(t._data)
            out._grad_fn = node
            out.requires_grad = True
        return out

    def backward(self, g):
        return (_move(g, self.src),)


def _cpu(self):
    return _move(self, "cpu")


def _cuda(self, device=None):
    if device is None:
        device = "cuda"
    elif isinstance(device, int) and not isinstance(device, bool):
        device = f"cuda:{device}"
    if _device(device).type != "cuda":
        raise RuntimeError(f"Invalid device, must be cuda device, got {device}")
    return _move(self, device)


def _type_as(self, other):
    return ew.cast(self, other._data.dtype)


def _caster(np_dtype):
    def method(self):
        return ew.cast(self, np_dtype)

    return method


def _new_tensor_factory(fill):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        from . import _creation

        return getattr(_creation, fill)(*size, dtype=dtype or self.dtype, device=device or self.device,
                                        requires_grad=requires_grad)

    return method


_METHODS = {
    # arithmetic and operators
    "add": ew.add, "sub": ew.sub, "mul": ew.mul, "div": ew.div, "pow": ew.pow, "neg": ew.neg,
    "true_divide": ew.div, "floor_divide": ew.floor_divide, "remainder": ew.remainder,
    "__add__": ew.add, "__radd__": ew.add, "__sub__": ew.sub, "__rsub__": ew.rsub,
    "__mul__": ew.mul, "__rmul__": ew.mul, "__truediv__": ew.div, "__rtruediv__": ew.rdiv,
    "__floordiv__": ew.floor_divide, "__mod__": ew.remainder,
    "__pow__": ew.pow, "__rpow__": ew.rpow, "__neg__": ew.neg, "__abs__": ew.abs,
    "__matmul__": matmul.matmul, "__rmatmul__": ew.rmatmul, "matmul": matmul.matmul, "mm": matmul.matmul,
    "bmm": matmul.matmul,
    "__eq__": ew.eq, "__ne__": ew.ne, "__lt__": ew.lt, "__le__": ew.le, "__gt__": ew.gt, "__ge__": ew.ge,
    "eq": ew.eq, "ne": ew.ne, "lt": ew.lt, "le": ew.le, "gt": ew.gt, "ge": ew.ge,
    "__and__": ew.bitwise_and, "__or__": ew.bitwise_or, "__xor__": ew.bitwise_xor, "__invert__": ew.bitwise_not,
    "__rand__": ew.bitwise_and, "__ror__": ew.bitwise_or, "__rxor__": ew.bitwise_xor,
    "logical_not": ew.logical_not, "equal": ew.equal, "allclose": ew.allclose,
    "isnan": ew.isnan, "isinf": ew.isinf, "isfinite": ew.isfinite,
    # math
    "exp": ew.exp, "log": ew.log, "sqrt": ew.sqrt, "rsqrt": ew.rsqrt, "abs": ew.abs, "sign": ew.sign,
    "sin": ew.sin, "cos": ew.cos, "tanh": ew.tanh, "sigmoid": ew.sigmoid, "relu": ew.relu, "erf": ew.erf,
    "clamp": ew.clamp, "clip": ew.clamp, "where": lambda self, cond, other: ew.where(cond, self, other),
    "masked_fill": ew.masked_fill, "softmax": softmax.softmax, "log_softmax": softmax.log_softmax,
    "logsumexp": softmax.logsumexp,
    # reductions
    "sum": reduction.sum, "mean": reduction.mean, "prod": reduction.prod, "var": reduction.var,
    "std": reduction.std, "max": reduction.max, "min": reduction.min, "amax": reduction.amax,
    "amin": reduction.amin, "argmax": reduction.argmax, "argmin": reduction.argmin, "gather": reduction.gather,
    # shape
    "reshape": shape.reshape, "view": shape.view, "flatten": shape.flatten, "unflatten": shape.unflatten,
    "squeeze": shape.squeeze, "unsqueeze": shape.unsqueeze, "permute": shape.permute,
    "transpose": shape.transpose, "t": shape.t, "expand": shape.expand, "expand_as": shape.expand_as,
    "contiguous": shape.contiguous, "clone": shape.clone, "split": shape.split, "chunk": shape.chunk,
    "view_as": lambda self, other: shape.view(self, other.shape),
    "reshape_as": lambda self, other: shape.reshape(self, other.shape),
    # indexing
    "__getitem__": indexing.getitem, "__setitem__": indexing.setitem,
    # in-place
    "add_": inplace.add_, "sub_": inplace.sub_, "mul_": inplace.mul_, "div_": inplace.div_,
    "pow_": inplace.pow_, "addcmul_": inplace.addcmul_, "addcdiv_": inplace.addcdiv_,
    "clamp_": inplace.clamp_, "masked_fill_": inplace.masked_fill_, "neg_": inplace.neg_,
    "exp_": inplace.exp_, "sqrt_": inplace.sqrt_, "relu_": inplace.relu_, "copy_": inplace.copy_,
    "zero_": inplace.zero_, "fill_": inplace.fill_, "uniform_": inplace.uniform_, "normal_": inplace.normal_,
    "__iadd__": inplace.add_, "__isub__": inplace.sub_, "__imul__": inplace.mul_, "__itruediv__": inplace.div_,
    # conversion
    "to": _to, "cpu": _cpu, "cuda": _cuda, "type_as": _type_as,
    "float": _caster(_dtype.float32.np), "double": _caster(_dtype.float64.np), "long": _caster(_dtype.int64.np),
    "int": _caster(_dtype.int32.np), "bool": _caster(_dtype.bool_.np),
    "new_zeros": _new_tensor_factory("zeros"), "new_ones": _new_tensor_factory("ones"),
    "new_empty": _new_tensor_factory("empty"),
}


def install():
    for name, fn in _METHODS.items():
        setattr(Tensor, name, fn)
    Tensor.T = property(lambda self: shape.permute(self, tuple(range(self.ndim - 1, -1, -1))))
    Tensor.mT = property(lambda self: shape.transpose(self, -2, -1))
