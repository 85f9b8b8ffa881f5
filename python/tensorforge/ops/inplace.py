"""In-place ops (add_, mul_, zero_, copy_, ...). Under no_grad they write straight into the array;
when autograd records them, the result of the out-of-place op replaces the tensor's history."""
import numpy as np

from .._backend import join_cpu_scalar, xp
from ..autograd.grad_mode import state
from ..tensor import Tensor, make
from . import elementwise as ew
from ._common import as_tensor_operand


def check_inplace(x):
    """Errors for in-place writes autograd cannot record correctly."""
    if x._grad_fn is None and x.requires_grad:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation. "
                           "Wrap the update in `with tensorforge.no_grad():` or use the out-of-place op.")
    if x._grad_fn is not None and x._grad_fn.is_view:
        raise RuntimeError("an in-place operation on a view of a tensor that requires grad is not supported; "
                           "use the out-of-place op, or clone() the view first.")


def _write(x, result_data):
    d = x._data
    if not np.can_cast(result_data.dtype, d.dtype, casting="same_kind"):
        raise RuntimeError(f"result type {result_data.dtype} can't be cast to the desired output type {d.dtype}")
    if result_data.shape != d.shape:
        try:
            xp(d).broadcast_to(result_data, d.shape)
        except ValueError:
            raise RuntimeError(f"output with shape {list(d.shape)} doesn't match the broadcast shape "
                               f"{list(result_data.shape)}") from None
        raise RuntimeError(f"output with shape {list(d.shape)} doesn't match the broadcast shape "
                           f"{list(result_data.shape)}")
    d[...] = result_data
    x._vc[0] += 1


def apply_inplace(x, op, *args):
    """x <- op(x, *args) in place; records autograd history when grad mode needs it."""
    if state.enabled and (x.requires_grad or any(isinstance(a, Tensor) and a.requires_grad for a in args)):
        check_inplace(x)
        before = make(x._data.copy(), x._grad_fn)  # the old value, as the graph saw it
        before.requires_grad = x.requires_grad
        result = op(before, *args)
        _write(x, result._data)
        x._grad_fn = result._grad_fn
        x.requires_grad = result.requires_grad
        return x
    _write(x, op(x, *args)._data)
    return x


def _fast_binary(ufunc, x, other):
    """No-grad fast path: the ufunc writes into x's array (same-kind casting, like PyTorch)."""
    d = x._data
    od = other._data if isinstance(other, Tensor) else other
    if isinstance(other, Tensor) and od.__class__ is not d.__class__:
        d, od = join_cpu_scalar(d, od, False, other.requires_grad)
    try:
        ufunc(d, od, out=d, casting="same_kind")
    except TypeError as e:
        raise RuntimeError(f"result type can't be cast to the desired output type {d.dtype}: {e}") from None
    except ValueError:
        raise RuntimeError(f"output with shape {list(d.shape)} doesn't match the broadcast shape of "
                           f"{list(d.shape)} and {list(getattr(od, 'shape', ()))}") from None
    x._vc[0] += 1
    return x


def _wants_grad(x, other):
    return state.enabled and (x.requires_grad or (isinstance(other, Tensor) and other.requires_grad))


def _scaled(other, alpha):
    if alpha == 1:
        return other
    return other._data * alpha if isinstance(other, Tensor) else other * alpha


def add_(x, other, alpha=1):
    if _wants_grad(x, other):
        return apply_inplace(x, ew.add, other, alpha)
    return _fast_binary(np.add, x, _scaled(other, alpha))


def sub_(x, other, alpha=1):
    if _wants_grad(x, other):
        return apply_inplace(x, ew.sub, other, alpha)
    return _fast_binary(np.subtract, x, _scaled(other, alpha))


def mul_(x, other):
    if _wants_grad(x, other):
        return apply_inplace(x, ew.mul, other)
    return _fast_binary(np.multiply, x, other)


def div_(x, other):
    if _wants_grad(x, other) or x._data.dtype.kind != "f":
        return apply_inplace(x, ew.div, other)
    return _fast_binary(np.true_divide, x, other)


def pow_(x, exponent):
    return apply_inplace(x, ew.pow, exponent)


def addcmul_(x, t1, t2, value=1):
    return apply_inplace(x, lambda a, b, c: a + value * (b * c), t1, t2)


def addcdiv_(x, t1, t2, value=1):
    return apply_inplace(x, lambda a, b, c: a + value * (b / c), t1, t2)


def clamp_(x, min=None, max=None):  # noqa: A002
    return apply_inplace(x, ew.clamp, min, max)


def masked_fill_(x, mask, value):
    return apply_inplace(x, ew.masked_fill, mask, value)


def neg_(x):
    return apply_inplace(x, ew.neg)


def exp_(x):
    return apply_inplace(x, ew.exp)


def sqrt_(x):
    return apply_inplace(x, ew.sqrt)


def relu_(x):
    return apply_inplace(x, ew.relu)


def copy_(x, src):
    """x's elements <- src (broadcast and cast to x's dtype); the gradient flows to src only."""
    src = as_tensor_operand(src, x)
    if src._data.__class__ is not x._data.__class__:
        src = src.to(x.device)  # copy_ copies across devices, like PyTorch's
    if _wants_grad(x, src):
        return apply_inplace(x, lambda a, s: ew.cast(s, a._data.dtype).expand(a.shape).clone(), src)
    try:
        x._data[...] = src._data
    except ValueError:
        raise RuntimeError(f"copy_: source of shape {list(src.shape)} cannot be broadcast to {list(x.shape)}") from None
    x._vc[0] += 1
    return x


def zero_(x):
    x._data[...] = 0
    x._vc[0] += 1
    return x


def fill_(x, value):
    if state.enabled and x._grad_fn is None and x.requires_grad:
        check_inplace(x)
    x._data[...] = value.item() if isinstance(value, Tensor) else value
    x._vc[0] += 1
    if x._grad_fn is not None:
        x._grad_fn = None
        x.requires_grad = False
    return x


def uniform_(x, a=0.0, b=1.0):
    from .._creation import random_on

    with _no_grad_check(x):
        x._data[...] = random_on(x.device, "uniform", a, b, x._data.shape)
    return x


def normal_(x, mean=0.0, std=1.0):
    from .._creation import random_on

    with _no_grad_check(x):
        x._data[...] = random_on(x.device, "normal", mean, std, x._data.shape)
    return x


class _no_grad_check:
    def __init__(self, x):
        self.x = x
        if state.enabled and x.requires_grad:
            check_inplace(x)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.x._vc[0] += 1
        return False
