"""Elementwise ops with broadcasting: arithmetic, comparisons, math functions, where/masked_fill/clamp."""
import math

import numpy as np

from .. import _C, _dtype
from .._backend import check_same_device, join_cpu_scalar, xp
from ..autograd.function import Node
from ..autograd.grad_mode import state
from ..tensor import Tensor, edge, make
from . import _kernels
from ._common import _FLOAT_NP, as_tensor_operand, broadcast_error, float_array, sum_to

_SCALARS = (int, float, bool)


# ---- operand handling ---------------------------------------------------------------------
def _operands(a, b):
    """(a array, b array or Python scalar, b Tensor or None), both arrays of the promoted dtype."""
    ad = a._data
    if isinstance(b, Tensor):
        bd = b._data
        if ad.__class__ is not bd.__class__:
            ad, bd = join_cpu_scalar(ad, bd, a.requires_grad, b.requires_grad)
        if ad.dtype != bd.dtype:
            dt = _dtype.result_type(ad, bd)
            ad = ad.astype(dt, copy=False)
            bd = bd.astype(dt, copy=False)
        return ad, bd, b
    if b.__class__ in _SCALARS:
        if ad.dtype.kind != "f" and (b.__class__ is float or ad.dtype.kind == "b"):
            ad = ad.astype(_dtype.scalar_result_type(ad, b), copy=False)
        return ad, b, None
    return _operands(a, as_tensor_operand(b, a))


def _grad_to(g, like_shape, like_dtype):
    """g summed back over broadcast dims and cast to the input's dtype."""
    if g._data.shape != like_shape:
        g = sum_to(g, like_shape)
    if g._data.dtype != like_dtype:
        g = cast(g, like_dtype)
    return g


def _apply(fn, ad, bd):
    try:
        return fn(ad, bd)
    except ValueError:
        _check_broadcast(_shape(ad), _shape(bd))
        raise


def _shape(v):
    return getattr(v, "shape", ())


def _check_broadcast(*shapes):
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        if len(shapes) == 2:
            raise broadcast_error(*shapes) from None
        raise RuntimeError(f"shapes {', '.join(str(tuple(s)) for s in shapes)} cannot be broadcast together") from None


class _BinaryNode(Node):
    __slots__ = ("a_shape", "a_dtype", "b_shape", "b_dtype", "b_value")

    def _setup(self, a, b, bt):
        ad = a._data
        self.a_shape, self.a_dtype = ad.shape, ad.dtype
        if bt is not None:
            self.b_shape, self.b_dtype = bt._data.shape, bt._data.dtype
            self.b_value = None
        else:
            self.b_value = b


def _record(out_data, a, b, bt, node_cls, save=False):
    out = make(out_data)
    if state.enabled and (a.requires_grad or (bt is not None and bt.requires_grad)):
        node = node_cls((edge(a), edge(bt) if bt is not None else None))
        node._setup(a, b, bt)
        if save:
            node.save(a, bt) if bt is not None else node.save(a)
        out._grad_fn = node
        out.requires_grad = True
    return out


# ---- arithmetic ---------------------------------------------------------------------------
class AddBackward0(_BinaryNode):
    __slots__ = ()

    def backward(self, g):
        n = self.next
        ga = _grad_to(g, self.a_shape, self.a_dtype) if n[0] is not None else None
        gb = _grad_to(g, self.b_shape, self.b_dtype) if n[1] is not None else None
        return ga, gb


class SubBackward0(_BinaryNode):
    __slots__ = ()

    def backward(self, g):
        n = self.next
        ga = _grad_to(g, self.a_shape, self.a_dtype) if n[0] is not None else None
        gb = _grad_to(-g, self.b_shape, self.b_dtype) if n[1] is not None else None
        return ga, gb


class MulBackward0(_BinaryNode):
    __slots__ = ()

    def backward(self, g):
        n = self.next
        a = self.saved[0]
        b = self.saved[1] if len(self.saved) > 1 else self.b_value
        ga = _grad_to(g * b, self.a_shape, self.a_dtype) if n[0] is not None else None
        gb = _grad_to(g * a, self.b_shape, self.b_dtype) if n[1] is not None else None
        return ga, gb


class DivBackward0(_BinaryNode):
    __slots__ = ()

    def backward(self, g):
        n = self.next
        a = self.saved[0]
        b = self.saved[1] if len(self.saved) > 1 else self.b_value
        ga = _grad_to(g / b, self.a_shape, self.a_dtype) if n[0] is not None else None
        gb = _grad_to(-(g * a) / (b * b), self.b_shape, self.b_dtype) if n[1] is not None else None
        return ga, gb


class PowBackward0(_BinaryNode):
    __slots__ = ()

    def backward(self, g):
        n = self.next
        a = self.saved[0]
        if len(self.saved) == 1:  # scalar exponent
            p = self.b_value
            return (g * p * a ** (p - 1) if p != 0 else g * 0), None
        b = self.saved[1]
        ga = _grad_to(g * b * a ** (b - 1), self.a_shape, self.a_dtype) if n[0] is not None else None
        gb = None
        if n[1] is not None:
            safe_log = where(a == 0, 1.0, a).log()  # 0 ** b has d/db = 0 for b >= 0, like PyTorch
            gb = _grad_to(g * a ** b * safe_log, self.b_shape, self.b_dtype)
        return ga, gb


def add(a, b, alpha=1):
    if alpha != 1:
        b = b * alpha
    ad, bd, bt = _operands(a, b)
    return _record(_apply(np.add, ad, bd), a, bd, bt, AddBackward0)


def sub(a, b, alpha=1):
    if alpha != 1:
        b = b * alpha
    ad, bd, bt = _operands(a, b)
    if ad.dtype.kind == "b":
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` "
                           "or `logical_xor()` operator instead.")
    return _record(_apply(np.subtract, ad, bd), a, bd, bt, SubBackward0)


def mul(a, b):
    ad, bd, bt = _operands(a, b)
    return _record(_apply(np.multiply, ad, bd), a, bd, bt, MulBackward0, save=True)


def div(a, b, rounding_mode=None):
    ad, bd, bt = _operands(a, b)
    if rounding_mode is not None:
        return floor_divide(a, b) if rounding_mode == "floor" else _trunc_divide(ad, bd)
    if ad.dtype.kind != "f":
        ad = ad.astype(np.float32)
        if bt is not None:
            bd = bd.astype(np.float32)
    return _record(_apply(np.true_divide, ad, bd), a, bd, bt, DivBackward0, save=True)


def floor_divide(a, b):
    ad, bd, _ = _operands(a, b)
    return make(_apply(np.floor_divide, ad, bd))


def _trunc_divide(ad, bd):
    q = _apply(np.true_divide, ad, bd)
    return make(xp(q).trunc(q).astype(ad.dtype if ad.dtype.kind != "b" else np.int64))


def remainder(a, b):
    ad, bd, _ = _operands(a, b)
    return make(_apply(np.remainder, ad, bd))


def pow(a, b):  # noqa: A001 - PyTorch's name
    ad, bd, bt = _operands(a, b)
    return _record(_apply(np.power, ad, bd), a, bd, bt, PowBackward0, save=True)


def rsub(a, b):
    return sub(as_tensor_operand(b, a), a)


def rdiv(a, b):
    return div(as_tensor_operand(b, a), a)


def rpow(a, b):
    return pow(as_tensor_operand(b, a), a)


def rmatmul(a, b):
    from .matmul import matmul

    return matmul(as_tensor_operand(b, a), a)


# ---- comparisons and logic (no gradient) -------------------------------------------------
def _compare(fn):
    def op(a, b):
        if not isinstance(b, Tensor) and b.__class__ not in _SCALARS:
            b = as_tensor_operand(b, a)
        bd = b._data if isinstance(b, Tensor) else b
        return make(_apply(fn, a._data, bd))

    op.__name__ = fn.__name__
    return op


eq = _compare(np.equal)
ne = _compare(np.not_equal)
lt = _compare(np.less)
le = _compare(np.less_equal)
gt = _compare(np.greater)
ge = _compare(np.greater_equal)


def _logical(fn, name):
    def op(a, b):
        ad, bd, _ = _operands(a, b)
        if ad.dtype.kind == "f":
            raise TypeError(f"{name} is only supported for integer and bool tensors, got {a.dtype}")
        return make(_apply(fn, ad, bd))

    op.__name__ = name
    return op


bitwise_and = _logical(np.bitwise_and, "bitwise_and")
bitwise_or = _logical(np.bitwise_or, "bitwise_or")
bitwise_xor = _logical(np.bitwise_xor, "bitwise_xor")


def bitwise_not(a):
    if a._data.dtype.kind == "f":
        raise TypeError(f"bitwise_not is only supported for integer and bool tensors, got {a.dtype}")
    return make(~a._data)


def logical_not(a):
    return make(xp(a._data).logical_not(a._data))


def equal(a, b):
    """True when both tensors have the same shape and elements."""
    return a.shape == b.shape and bool((a._data == b._data).all())


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(xp(a._data).allclose(a._data, b._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isnan(a):
    return make(xp(a._data).isnan(a._data))


def isinf(a):
    return make(xp(a._data).isinf(a._data))


def isfinite(a):
    return make(xp(a._data).isfinite(a._data))


# ---- dtype cast ---------------------------------------------------------------------------
class ToCopyBackward0(Node):
    __slots__ = ("src_dtype",)

    def backward(self, g):
        return (cast(g, self.src_dtype),)


def cast(x, np_dtype):
    """x converted to numpy dtype np_dtype (x itself when it already has it); differentiable."""
    d = x._data
    if d.dtype == np_dtype:
        return x
    out = make(d.astype(np_dtype))
    if state.enabled and x.requires_grad and out._data.dtype.kind == "f":
        node = ToCopyBackward0((edge(x),))
        node.src_dtype = d.dtype
        out._grad_fn = node
        out.requires_grad = True
    return out


# ---- unary math ---------------------------------------------------------------------------
def _unary(x, out_data, node_cls, save_input=False, save_output=False):
    out = make(out_data)
    if state.enabled and x.requires_grad:
        node = node_cls((edge(x),))
        if save_input:
            node.save(x)
        elif save_output:
            node.save(out.detach())
        out._grad_fn = node
        out.requires_grad = True
    return out


class NegBackward0(Node):
    __slots__ = ()

    def backward(self, g):
        return (-g,)


class ExpBackward0(Node):
    __slots__ = ()

    def backward(self, g):
        return (g * self.output(self.saved[0]),)


class LogBackward0(Node):
    __slots__ = ()

    def backward(self, g):
        return (g / self.saved[0],)


class SqrtBackward0(Node):
    __slots__ = ()

    def backward(self, g):
        return (g / (2 * self.output(self.saved[0])),)


class RsqrtBackward0(Node):
    __slots__ = ()

    def backward(self, g):
        out = self.output(self.saved[0])
        return (g * -0.5 * out * out * out,)


class AbsBackward0(Node):
    __slots__ = ()

    def backward(self, g):
        return (g * sign(self.saved[0]),)


class SinBackward0(Node):
    __slots__ = ()

    def backward(self, g):
        return (g * self.saved[0].cos(),)


class CosBackward0(Node):
    __slots__ = ()

    def backward(self, g):
        return (g * -self.saved[0].sin(),)


class TanhBackward0(Node):
    __slots__ = ()

    def backward(self, g):
        out = self.output(self.saved[0])
        return (g * (1 - out * out),)


class SigmoidBackward0(Node):
    __slots__ = ()

    def backward(self, g):
        out = self.output(self.saved[0])
        return (g * out * (1 - out),)


class ReluBackward0(Node):
    __slots__ = ()

    def backward(self, g):
        y = self.saved[0]._data
        if not state.enabled and _cpu_float_pair(y, g._data):  # fused; create_graph composes below
            return (make(_cpu_kernel(_C.relu_backward, y, g._data)),)
        return (g * make(y > 0),)


class ErfBackward0(Node):
    __slots__ = ()

    def backward(self, g):
        x = self.saved[0]
        return (g * (2 / math.sqrt(math.pi)) * (-(x * x)).exp(),)


def neg(x):
    if x._data.dtype.kind == "b":
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
                           "invert a mask, use the `~` or `logical_not()` operator instead.")
    return _unary(x, -x._data, NegBackward0)


def exp(x):
    d = float_array(x._data)
    return _unary(x, xp(d).exp(d), ExpBackward0, save_output=True)


def log(x):
    d = float_array(x._data)
    return _unary(x, xp(d).log(d), LogBackward0, save_input=True)


def sqrt(x):
    d = float_array(x._data)
    return _unary(x, xp(d).sqrt(d), SqrtBackward0, save_output=True)


def rsqrt(x):
    d = float_array(x._data)
    return _unary(x, 1 / xp(d).sqrt(d), RsqrtBackward0, save_output=True)


def abs(x):  # noqa: A001
    return _unary(x, xp(x._data).abs(x._data), AbsBackward0, save_input=True)


def sign(x):
    return make(xp(x._data).sign(x._data))


def sin(x):
    d = float_array(x._data)
    return _unary(x, xp(d).sin(d), SinBackward0, save_input=True)


def cos(x):
    d = float_array(x._data)
    return _unary(x, xp(d).cos(d), CosBackward0, save_input=True)


def tanh(x):
    d = float_array(x._data)
    return _unary(x, xp(d).tanh(d), TanhBackward0, save_output=True)


def sigmoid(x):
    d = float_array(x._data)
    m = xp(d)
    e = m.exp(-m.abs(d))  # never overflows
    out = m.where(d >= 0, 1 / (1 + e), e / (1 + e)).astype(d.dtype, copy=False)
    return _unary(x, out, SigmoidBackward0, save_output=True)


def relu(x):
    d = x._data
    out = _cpu_kernel(_C.relu, d) if d.dtype in _FLOAT_NP and xp(d) is np else xp(d).maximum(d, 0)
    return _unary(x, out, ReluBackward0, save_output=True)


def erf(x):
    d = float_array(x._data)
    return _unary(x, erf_array(d), ErfBackward0, save_input=True)


def _cpu_float_pair(a, b):
    """Whether a and b are CPU float32/float64 arrays of one dtype and shape (what the fused kernels take)."""
    return a.__class__ is np.ndarray and b.__class__ is np.ndarray and a.dtype in _FLOAT_NP and b.dtype == a.dtype \
        and a.shape == b.shape


def _cpu_kernel(kernel, *arrays):
    """out = kernel(*arrays) for one of our elementwise C++ kernels (contiguous numpy floats)."""
    arrays = [a if a.flags.c_contiguous else np.ascontiguousarray(a) for a in arrays]
    out = np.empty(arrays[0].shape, arrays[0].dtype)
    kernel(*arrays, out)
    return out


def erf_array(d):
    """erf: the C library's on the CPU; on CUDA a fit with |error| < 1.2e-7 (Numerical Recipes' erfc
    Chebyshev form) until a CUDA kernel takes over."""
    m = xp(d)
    if m is np:
        return _cpu_kernel(_C.erf, d)
    z = m.abs(d).astype(np.float64)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = (-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277)))))))))
    r = 1.0 - t * m.exp(poly)
    return m.where(d >= 0, r, -r).astype(d.dtype, copy=False)


_SQRT1_2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_GELU_K = math.sqrt(2 / math.pi)
_GELU_C = 0.044715


_GELU_KERNELS = {"none": (_C.gelu, _C.gelu_backward), "tanh": (_C.gelu_tanh, _C.gelu_tanh_backward)}


def _gelu_forward_array(d, approximate):
    """GELU of a float array: our C++ kernel on the CPU, our CUDA kernel for CUDA float32, array-module
    formulas elsewhere."""
    m = xp(d)
    if m is np:
        return _cpu_kernel(_GELU_KERNELS[approximate][0], d)
    if d.dtype == np.float32:
        return _kernels.gelu_cuda_forward(d, approximate)
    if approximate == "tanh":
        return 0.5 * d * (1 + m.tanh(_GELU_K * (d + _GELU_C * d * d * d)))
    return 0.5 * d * (1 + erf_array(d * _SQRT1_2))


class GeluBackward0(Node):
    __slots__ = ("approximate",)

    def backward(self, g):
        x = self.saved[0]
        if not state.enabled and g._data.dtype == x._data.dtype:  # fused; create_graph composes below
            if xp(x._data) is np:
                return (make(_cpu_kernel(_GELU_KERNELS[self.approximate][1], x._data, g._data)),)
            if x._data.dtype == np.float32:
                return (make(_kernels.gelu_cuda_backward(x._data, g._data, self.approximate)),)
        if self.approximate == "tanh":
            t = (_GELU_K * (x + _GELU_C * x * x * x)).tanh()
            d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _GELU_K * (1 + 3 * _GELU_C * x * x)
        else:
            cdf = 0.5 * (1 + (x * _SQRT1_2).erf())
            d = cdf + x * (-0.5 * x * x).exp() * _INV_SQRT_2PI
        return (g * d,)


def gelu(x, approximate="none"):
    if approximate not in _GELU_KERNELS:
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    d = float_array(x._data)
    out = _unary(x, _gelu_forward_array(d, approximate).astype(d.dtype, copy=False), GeluBackward0,
                 save_input=True)
    if out._grad_fn is not None:
        out._grad_fn.approximate = approximate
    return out


# ---- clamp, where, masked_fill --------------------------------------------------------------
class ClampBackward0(Node):
    __slots__ = ("mask",)

    def backward(self, g):
        return (g * self.mask,)


def clamp(x, min=None, max=None):  # noqa: A002
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = x
        if min is not None:
            out = where(out < min, min, out)
        if max is not None:
            out = where(out > max, max, out)
        return out
    d = x._data
    if d.dtype.kind != "f" and (isinstance(min, float) or isinstance(max, float)):
        d = d.astype(np.float32)
    out = xp(d).clip(d, min, max)
    result = _unary(x, out, ClampBackward0)
    if result._grad_fn is not None:
        keep = xp(d).ones(d.shape, dtype=bool)
        if min is not None:
            keep &= d >= min
        if max is not None:
            keep &= d <= max
        result._grad_fn.mask = make(keep)
    return result


class WhereBackward0(Node):
    __slots__ = ("cond", "a_shape", "a_dtype", "b_shape", "b_dtype")

    def backward(self, g):
        n = self.next
        ga = _grad_to(where(self.cond, g, 0.0), self.a_shape, self.a_dtype) if n[0] is not None else None
        gb = _grad_to(where(self.cond, 0.0, g), self.b_shape, self.b_dtype) if n[1] is not None else None
        return ga, gb


def where(condition, input, other):  # noqa: A002
    cond = condition if isinstance(condition, Tensor) else as_tensor_operand(condition, None)
    if cond._data.dtype.kind != "b":
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype {cond.dtype}")
    if not isinstance(input, Tensor):
        if not isinstance(other, Tensor):
            raise TypeError("where needs input or other to be a Tensor")
        input = as_tensor_operand(input, other)
    ad, bd, bt = _operands(input, other)
    if cond._data.__class__ is not ad.__class__:
        check_same_device(ad, cond._data)
    try:
        out_data = xp(ad).where(cond._data, ad, bd)
    except ValueError:
        _check_broadcast(cond.shape, _shape(ad), _shape(bd))
        raise
    if out_data.dtype != ad.dtype:  # a Python-scalar `other` must not widen the result
        out_data = out_data.astype(ad.dtype)
    out = make(out_data)
    if state.enabled and (input.requires_grad or (bt is not None and bt.requires_grad)):
        node = WhereBackward0((edge(input), edge(bt) if bt is not None else None))
        node.cond = cond
        node.a_shape, node.a_dtype = input._data.shape, input._data.dtype
        if bt is not None:
            node.b_shape, node.b_dtype = bt._data.shape, bt._data.dtype
        out._grad_fn = node
        out.requires_grad = True
    return out


def masked_fill(x, mask, value):
    if not isinstance(mask, Tensor) or mask._data.dtype.kind != "b":
        raise RuntimeError("masked_fill only supports boolean masks")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"masked_fill only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        value = cast(value, x._data.dtype)
    else:
        value = make(xp(x._data).asarray(value, dtype=x._data.dtype))
    out = where(mask, value, x)
    if out.shape != x.shape:
        raise RuntimeError(f"masked_fill: mask of shape {tuple(mask.shape)} cannot be broadcast to the input's "
                           f"shape {tuple(x.shape)}")
    return out
