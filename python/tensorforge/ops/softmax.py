"""Numerically stable softmax, log_softmax and logsumexp (max-shifted). softmax / log_softmax over the
last dim of a CUDA float32 tensor run our CUDA kernels (see _kernels.py), also in the backward unless
that is itself being recorded (create_graph), where the Tensor-op form below keeps it differentiable."""
from .._backend import xp
from ..autograd.function import Node
from ..autograd.grad_mode import state
from ..tensor import edge, make
from . import _kernels
from ._common import float_array, norm_dim, norm_dims


def _record(x, out_data, node_cls, axis):
    out = make(out_data)
    if state.enabled and x.requires_grad:
        node = node_cls((edge(x),))
        node.axis = axis
        node.save(out.detach())
        out._grad_fn = node
        out.requires_grad = True
    return out


def _require_dim(dim, name):
    if dim is None:
        raise TypeError(f"{name}() needs an explicit dim argument")


class SoftmaxBackward0(Node):
    __slots__ = ("axis",)

    def backward(self, g):
        out = self.output(self.saved[0])
        if not state.enabled and _kernels.softmax_cuda_ok(out._data, self.axis):
            return (make(_kernels.softmax_cuda_backward(out._data, g._data, False)),)
        gy = g * out
        return (gy - out * gy.sum(self.axis, keepdim=True),)


class LogSoftmaxBackward0(Node):
    __slots__ = ("axis",)

    def backward(self, g):
        out = self.output(self.saved[0])
        if not state.enabled and _kernels.softmax_cuda_ok(out._data, self.axis):
            return (make(_kernels.softmax_cuda_backward(out._data, g._data, True)),)
        return (g - out.exp() * g.sum(self.axis, keepdim=True),)


def _shifted(d, axis):
    m = xp(d)
    top = d.max(axis=axis, keepdims=True)
    top = m.where(m.isfinite(top), top, 0)  # rows of -inf stay -inf instead of becoming nan
    return d - top


def softmax(x, dim=None, dtype=None):
    _require_dim(dim, "softmax")
    d = float_array(x._data if dtype is None else x.to(dtype)._data)
    axis = norm_dim(dim, d.ndim)
    if d.ndim == 0:
        return _record(x, xp(d).ones_like(d), SoftmaxBackward0, axis)
    if _kernels.softmax_cuda_ok(d, axis):
        return _record(x, _kernels.softmax_cuda_forward(d, False), SoftmaxBackward0, axis)
    e = xp(d).exp(_shifted(d, axis))
    e /= e.sum(axis=axis, keepdims=True)
    return _record(x, e, SoftmaxBackward0, axis)


def log_softmax(x, dim=None, dtype=None):
    _require_dim(dim, "log_softmax")
    d = float_array(x._data if dtype is None else x.to(dtype)._data)
    axis = norm_dim(dim, d.ndim)
    if d.ndim == 0:
        return _record(x, xp(d).zeros_like(d), LogSoftmaxBackward0, axis)
    if _kernels.softmax_cuda_ok(d, axis):
        return _record(x, _kernels.softmax_cuda_forward(d, True), LogSoftmaxBackward0, axis)
    m = xp(d)
    s = _shifted(d, axis)
    s -= m.log(m.exp(s).sum(axis=axis, keepdims=True))
    return _record(x, s, LogSoftmaxBackward0, axis)


class LogsumexpBackward0(Node):
    __slots__ = ("keep_shape",)

    def backward(self, g):
        x = self.saved[0]
        out = self.output(self.saved[1]).reshape(self.keep_shape)
        return (g.reshape(self.keep_shape) * (x - out).exp(),)


def logsumexp(x, dim, keepdim=False):
    d = float_array(x._data)
    m = xp(d)
    axes = norm_dims(dim, d.ndim)
    if d.ndim == 0:
        out = d.copy()
    else:
        top = d.max(axis=axes, keepdims=True)
        top = m.where(m.isfinite(top), top, 0)
        out = m.log(m.exp(d - top).sum(axis=axes, keepdims=True)) + top
        if not keepdim:
            out = out.reshape(tuple(s for i, s in enumerate(d.shape) if i not in axes))
    result = make(out)
    if state.enabled and x.requires_grad:
        node = LogsumexpBackward0((edge(x),))
        node.keep_shape = tuple(1 if i in axes else s for i, s in enumerate(d.shape))
        node.save(x, result.detach())
        result._grad_fn = node
        result.requires_grad = True
    return result
