"""layer_norm and batch_norm, each one fused node. layer_norm on CPU float arrays runs our C++
kernel (csrc/cpu/normalization: one pass per row, saves mean and 1/std), on CUDA float32 our CUDA
kernel (csrc/cuda/layer_norm.cu); elsewhere, and for
batch_norm, the forward keeps the normalised input and 1/std and the backward is the closed form
dx = rstd * (gx - mean(gx) - xhat * mean(gx * xhat)) over the normalised axes (gx = g * weight)."""
import numpy as np

from .._backend import xp
from ..autograd.function import Function
from ..tensor import make
from . import _kernels


def _backward_dx(gxhat, xhat, rstd, axes):
    mean_g = gxhat.mean(axis=axes, keepdims=True)
    mean_gx = (gxhat * xhat).mean(axis=axes, keepdims=True)
    return rstd * (gxhat - mean_g - xhat * mean_gx)


def _affine_grads(ctx, g, xhat, reduce_axes, param_shape):
    gw = gb = None
    if ctx.needs_input_grad[ctx.weight_arg]:
        gw = make((g * xhat).sum(axis=reduce_axes).reshape(param_shape))
    if ctx.needs_input_grad[ctx.weight_arg + 1]:
        gb = make(g.sum(axis=reduce_axes).reshape(param_shape))
    return gw, gb


class _LayerNormFused(Function):
    """Our kernels (C++ on the CPU, CUDA for float32 on a GPU): saves the contiguous input, mean and 1/std."""

    @staticmethod
    def forward(ctx, x, normalized_shape, weight, bias, eps):
        n = int(np.prod(normalized_shape))
        wd = None if weight is None else weight._data.reshape(-1)
        bd = None if bias is None else bias._data.reshape(-1)
        d = xp(x._data).ascontiguousarray(x._data)
        out, mean, rstd = _kernels.layer_norm_forward(d, n, wd, bd, eps)
        ctx.d, ctx.mean, ctx.rstd, ctx.weight_data = d, mean, rstd, wd
        ctx.param_shape = normalized_shape
        return make(out)

    @staticmethod
    def backward(ctx, grad):
        need = ctx.needs_input_grad
        gx, gw, gb = _kernels.layer_norm_backward(grad._data, ctx.d, ctx.mean, ctx.rstd, ctx.weight_data,
                                                  need[0], need[2], need[3])
        return (None if gx is None else make(gx), None, None if gw is None else make(gw.reshape(ctx.param_shape)),
                None if gb is None else make(gb.reshape(ctx.param_shape)), None)


class _LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, normalized_shape, weight, bias, eps):
        d = x._data
        axes = tuple(range(d.ndim - len(normalized_shape), d.ndim))
        mu = d.mean(axis=axes, keepdims=True)
        centered = d - mu
        var = (centered * centered).mean(axis=axes, keepdims=True)
        rstd = (1.0 / xp(d).sqrt(var + eps)).astype(d.dtype)
        xhat = centered * rstd
        out = xhat
        if weight is not None:
            out = out * weight._data
        if bias is not None:
            out = out + bias._data
        ctx.axes, ctx.xhat, ctx.rstd, ctx.weight_arg = axes, xhat, rstd, 2
        ctx.weight_data = None if weight is None else weight._data
        return make(xp(d).ascontiguousarray(out, dtype=d.dtype))

    @staticmethod
    def backward(ctx, grad):
        g = grad._data
        xhat, axes = ctx.xhat, ctx.axes
        gx = None
        if ctx.needs_input_grad[0]:
            gxhat = g if ctx.weight_data is None else g * ctx.weight_data
            gx = make(_backward_dx(gxhat, xhat, ctx.rstd, axes).astype(g.dtype, copy=False))
        batch_axes = tuple(range(g.ndim - len(axes)))
        gw, gb = _affine_grads(ctx, g, xhat, batch_axes, g.shape[g.ndim - len(axes):])
        return gx, None, gw, gb, None


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    n = len(normalized_shape)
    if input.ndim < n or tuple(input.shape[input.ndim - n:]) != normalized_shape:
        raise ValueError(f"layer_norm: input of shape {tuple(input.shape)} does not end with normalized_shape "
                         f"{normalized_shape}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != normalized_shape:
            raise ValueError(f"layer_norm: {name} has shape {tuple(p.shape)}, expected {normalized_shape}")
    fn = _LayerNorm
    if input.numel() > 0 and _kernels.layer_norm_kernel_ok(input._data, None if weight is None else weight._data,
                                                            None if bias is None else bias._data):
        fn = _LayerNormFused
    return fn.apply(input, normalized_shape, weight, bias, eps)


class _BatchNormTrain(Function):
    """Normalises with the batch's statistics over every axis except the channel axis 1."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps, stats_out):
        d = x._data
        axes = (0,) + tuple(range(2, d.ndim))
        shape = (1, d.shape[1]) + (1,) * (d.ndim - 2)
        mu = d.mean(axis=axes, keepdims=True)
        centered = d - mu
        var = (centered * centered).mean(axis=axes, keepdims=True)
        rstd = (1.0 / xp(d).sqrt(var + eps)).astype(d.dtype)
        xhat = centered * rstd
        out = xhat
        if weight is not None:
            out = out * weight._data.reshape(shape)
            out = out + bias._data.reshape(shape)
        ctx.axes, ctx.xhat, ctx.rstd, ctx.weight_arg = axes, xhat, rstd, 1
        ctx.weight_data = None if weight is None else weight._data.reshape(shape)
        stats_out.extend((mu.reshape(-1), var.reshape(-1)))
        return make(xp(d).ascontiguousarray(out, dtype=d.dtype))

    @staticmethod
    def backward(ctx, grad):
        g = grad._data
        gx = None
        if ctx.needs_input_grad[0]:
            gxhat = g if ctx.weight_data is None else g * ctx.weight_data
            gx = make(_backward_dx(gxhat, ctx.xhat, ctx.rstd, ctx.axes).astype(g.dtype, copy=False))
        gw, gb = _affine_grads(ctx, g, ctx.xhat, ctx.axes, (g.shape[1],))
        return gx, gw, gb, None, None


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,  # noqa: A002
               eps=1e-5):
    """PyTorch's batch_norm: in training the batch statistics normalise and the running ones are
    updated in place (unbiased variance, running = (1 - momentum) * running + momentum * batch)."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm expects an input with a channel dimension (N, C, ...), got shape "
                         f"{tuple(input.shape)}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"batch_norm: {name} has shape {tuple(t.shape)}, expected ({c},) for an input with "
                             f"{c} channels")
    if (weight is None) != (bias is None):
        raise ValueError("batch_norm: pass both weight and bias, or neither")
    if training:
        count = input.numel() // c
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"{tuple(input.shape)}")
        stats = []
        out = _BatchNormTrain.apply(input, weight, bias, eps, stats)
        if running_mean is not None:
            mean, var = stats
            running_mean._data *= 1 - momentum
            running_mean._data += momentum * mean
            running_mean._bump_version()
            if running_var is not None:
                running_var._data *= 1 - momentum
                running_var._data += momentum * var * (count / (count - 1))
                running_var._bump_version()
        return out
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm in eval mode needs running_mean and running_var")
    shape = (1, c) + (1,) * (input.ndim - 2)
    scale = make((1.0 / xp(running_var._data).sqrt(running_var._data + eps)).astype(input._data.dtype).reshape(shape))
    out = (input - make(running_mean._data.reshape(shape))) * scale
    if weight is not None:
        out = out * weight.reshape(shape) + bias.reshape(shape)
    return out


__all__ = ["layer_norm", "batch_norm"]
