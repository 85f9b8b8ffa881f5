"""conv2d on our CPU kernels (tensorforge._C.conv2d_*): forward, and a backward node that runs the
grad-input and grad-weight kernels (the bias gradient is a sum over batch and pixels)."""
import numpy as np

from .._backend import check_same_device, xp
from . import _kernels as kernels
from ..autograd.function import Node
from ..autograd.grad_mode import state
from ..tensor import Tensor, edge, make
from ._spatial import image_batch, kernel_array, pair

_OP = "conv2d"


def _padding(padding, kernel, dilation, stride):
    """((top, bottom), (left, right)) from an int, a pair, 'valid' or 'same' (extra pixel at the end)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"Invalid padding string {padding!r}, should be one of ('valid', 'same')")
        if stride != (1, 1):
            raise ValueError("padding='same' is not supported for strided convolutions")
        sides = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            sides.append((total // 2, total - total // 2))
        return tuple(sides)
    ph, pw = pair(padding, "padding", _OP, 0)
    return (ph, ph), (pw, pw)


def _check(x, weight, bias, groups):
    if not isinstance(weight, Tensor):
        raise TypeError(f"conv2d: weight must be a Tensor, got {type(weight).__name__}")
    if weight.ndim != 4:
        raise RuntimeError(f"conv2d: weight must be 4-D (out_channels, in_channels/groups, kH, kW), got shape "
                           f"{tuple(weight.shape)}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    c_out, c_in_g = weight.shape[0], weight.shape[1]
    if c_out % groups:
        raise RuntimeError(f"conv2d: groups={groups} must divide out_channels, but weight has shape "
                           f"{tuple(weight.shape)}")
    if x.shape[1] % groups:
        raise RuntimeError(f"conv2d: groups={groups} must divide in_channels, but input has shape {tuple(x.shape)}")
    if x.shape[1] != c_in_g * groups:
        raise RuntimeError(f"conv2d: given groups={groups} and weight of shape {tuple(weight.shape)}, expected input "
                           f"{tuple(x.shape)} to have {c_in_g * groups} channels, but got {x.shape[1]} channels")
    if x.dtype != weight.dtype:
        raise RuntimeError(f"conv2d: input ({x.dtype}) and weight ({weight.dtype}) must have the same dtype")
    if bias is not None:
        if not isinstance(bias, Tensor):
            raise TypeError(f"conv2d: bias must be a Tensor or None, got {type(bias).__name__}")
        if tuple(bias.shape) != (c_out,):
            raise RuntimeError(f"conv2d: bias must have shape ({c_out},), got {tuple(bias.shape)}")
        if bias.dtype != x.dtype:
            raise RuntimeError(f"conv2d: input ({x.dtype}) and bias ({bias.dtype}) must have the same dtype")


def _output_size(size, pads, kernel, stride, dilation):
    padded = size + pads[0] + pads[1]
    span = dilation * (kernel - 1) + 1
    if padded < span:
        return None
    return (padded - span) // stride + 1


class ConvolutionBackward0(Node):
    __slots__ = ("x", "w", "geometry")

    def backward(self, grad):
        g = xp(grad._data).ascontiguousarray(grad._data, dtype=self.x.dtype)
        gx = gw = gb = None
        if self.next[0] is not None:
            gx = make(kernels.conv2d_grad_input(g, self.w, self.x.shape, self.geometry))
        if self.next[1] is not None:
            gw = make(kernels.conv2d_grad_weight(self.x, g, self.w.shape, self.geometry))
        if self.next[2] is not None:
            gb = make(g.sum(axis=(0, 2, 3)))
        return gx, gw, gb


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """2-D cross-correlation of NCHW input with OIHW weight, as torch.nn.functional.conv2d."""
    x, unbatched = image_batch(input, _OP)
    _check(x, weight, bias, groups)
    stride = pair(stride, "stride", _OP, 1)
    dilation = pair(dilation, "dilation", _OP, 1)
    kernel = tuple(weight.shape[2:])
    pads = _padding(padding, kernel, dilation, stride)
    out_hw = [_output_size(x.shape[2 + i], pads[i], kernel[i], stride[i], dilation[i]) for i in range(2)]
    if None in out_hw:
        padded = tuple(x.shape[2 + i] + sum(pads[i]) for i in range(2))
        raise RuntimeError(f"conv2d: padded input size per channel {padded} is smaller than the dilated kernel "
                           f"{tuple(dilation[i] * (kernel[i] - 1) + 1 for i in range(2))}; kernel size can't be "
                           f"greater than the padded input size")
    xd = kernel_array(x, _OP, "input")
    wd = kernel_array(weight, _OP, "weight")
    bd = None if bias is None else kernel_array(bias, _OP, "bias")
    geometry = (stride, (pads[0][0], pads[1][0]), dilation, int(groups))
    check_same_device(xd, wd, bd)
    y = kernels.conv2d_forward(xd, wd, bd, geometry, out_hw)
    out = make(y)
    needs = (x.requires_grad, weight.requires_grad, bias is not None and bias.requires_grad)
    if state.enabled and any(needs):
        node = ConvolutionBackward0((edge(x), edge(weight), None if bias is None else edge(bias)))
        node.save(x, weight)
        node.x, node.w, node.geometry = xd, wd, geometry
        out._grad_fn = node
        out.requires_grad = True
    return out.squeeze(0) if unbatched else out
