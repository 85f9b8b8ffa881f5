"""2-D pooling on our CPU kernels (tensorforge._C.*_pool2d_*): max (with indices), average and
adaptive average, each with a backward node that calls the matching backward kernel."""
import numpy as np

from .._backend import xp
from . import _kernels as kernels
from ..autograd.function import Node
from ..tensor import make
from ._common import record_unary
from ._spatial import image_batch, kernel_array, pair


def _output_size(size, kernel, stride, pad, dilation, ceil_mode):
    """PyTorch's pooling output size: floor or ceil, the last window starting inside the image or left padding."""
    out = (size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _window_args(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    kernel = pair(kernel_size, "kernel_size", op, 1)
    empty = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)  # PyTorch: default
    stride = kernel if empty else pair(stride, "stride", op, 1)
    padding = pair(padding, "padding", op, 0)
    dilation = pair(dilation, "dilation", op, 1)
    for k, p, d in zip(kernel, padding, dilation):
        if p > (d * (k - 1) + 1) // 2:
            raise RuntimeError(f"{op}: pad should be at most half of effective kernel size, but got pad={p}, "
                               f"kernel_size={k} and dilation={d}")
    out = tuple(_output_size(x.shape[2 + i], kernel[i], stride[i], padding[i], dilation[i], ceil_mode)
                for i in range(2))
    if out[0] < 1 or out[1] < 1:
        raise RuntimeError(f"{op}: given input size {tuple(x.shape[1:])}, calculated output size "
                           f"({x.shape[1]}, {out[0]}, {out[1]}) is too small (kernel {kernel}, stride {stride}, "
                           f"padding {padding}, dilation {dilation})")
    return kernel, stride, padding, dilation, out


def _finish(out, unbatched):
    return out.squeeze(0) if unbatched else out


class MaxPool2DWithIndicesBackward0(Node):
    __slots__ = ("indices", "in_shape", "args")

    def backward(self, grad):
        g = xp(grad._data).ascontiguousarray(grad._data)
        return (make(kernels.max_pool2d_backward(g, self.indices, self.in_shape, *self.args)),)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    op = "max_pool2d"
    x, unbatched = image_batch(input, op)
    kernel, stride, padding, dilation, out_hw = _window_args(op, x, kernel_size, stride, padding, dilation, ceil_mode)
    xd = kernel_array(x, op, "input")
    y, idx = kernels.max_pool2d_forward(xd, out_hw, kernel, stride, padding, dilation, ceil_mode)
    out = _finish(record_unary(x, y, MaxPool2DWithIndicesBackward0, indices=idx, in_shape=xd.shape,
                               args=(kernel, stride, padding, dilation)), unbatched)
    if return_indices:
        return out, _finish(make(idx), unbatched)
    return out


class AvgPool2DBackward0(Node):
    __slots__ = ("in_shape", "args")

    def backward(self, grad):
        g = xp(grad._data).ascontiguousarray(grad._data)
        return (make(kernels.avg_pool2d_backward(g, self.in_shape, *self.args)),)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,  # noqa: A002
               divisor_override=None):
    op = "avg_pool2d"
    x, unbatched = image_batch(input, op)
    kernel, stride, padding, _, out_hw = _window_args(op, x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and int(divisor_override) == 0:
        raise RuntimeError("avg_pool2d: divisor_override must be non-zero")
    divisor = 0 if divisor_override is None else int(divisor_override)
    xd = kernel_array(x, op, "input")
    args = (kernel, stride, padding, bool(count_include_pad), divisor)
    y = kernels.avg_pool2d_forward(xd, out_hw, kernel, stride, padding, ceil_mode, *args[3:])
    return _finish(record_unary(x, y, AvgPool2DBackward0, in_shape=xd.shape, args=args), unbatched)


class AdaptiveAvgPool2DBackward0(Node):
    __slots__ = ("in_shape",)

    def backward(self, grad):
        g = xp(grad._data).ascontiguousarray(grad._data)
        return (make(kernels.adaptive_avg_pool2d_backward(g, self.in_shape)),)


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    op = "adaptive_avg_pool2d"
    x, unbatched = image_batch(input, op)
    if isinstance(output_size, (int, np.integer)):
        output_size = (output_size, output_size)
    output_size = tuple(output_size)
    if len(output_size) != 2:
        raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
    out_hw = tuple(x.shape[2 + i] if s is None else int(s) for i, s in enumerate(output_size))
    if out_hw[0] < 0 or out_hw[1] < 0:
        raise ValueError(f"{op}: output_size must be non-negative, got {output_size}")
    if (x.shape[2] == 0 or x.shape[3] == 0) and x.shape[0] * x.shape[1] > 0:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} has an empty spatial dimension")
    xd = kernel_array(x, op, "input")
    y = kernels.adaptive_avg_pool2d_forward(xd, out_hw)
    return _finish(record_unary(x, y, AdaptiveAvgPool2DBackward0, in_shape=xd.shape), unbatched)
