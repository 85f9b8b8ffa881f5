"""The one place where ops pick a kernel by device: our C++ kernels (tensorforge._C) for numpy arrays,
our CUDA kernels (tensorforge.cuda) for cupy float32 arrays, and cupy's own operations where we have no
CUDA kernel yet (float64, batched shapes the GEMM does not take, adaptive pooling). Nothing here copies
device data to the host. Each function takes and returns arrays of its inputs' library.

What runs where on CUDA:
  gemm          float32: tensorforge.cuda.gemm (2-D, or batched 3-D with broadcast batch strides), tf32 /
                bf16 tensor cores under tensorforge.set_float32_matmul_precision("high" / "medium");
                float64 / other dtypes: cupy.matmul (cuBLAS)
  conv2d        float32: tensorforge.cuda.conv2d_* ; float64: taps + cupy.matmul (ops/spatial_composed.py)
  max/avg pool  float32: tensorforge.cuda.*_pool2d_* ; float64: taps on cupy (ops/spatial_composed.py)
  adaptive avg  cupy reshape + mean when the output divides the input, else A_h @ x @ A_w^T (cupy.matmul)
  attention     float32, head dim <= 128: tensorforge.cuda.attention_* (fp32 kernel, or tf32 / bf16 tensor
                cores under tensorforge.set_float32_matmul_precision); else a cupy composition
  layer_norm    CPU float32/64: our C++ kernel; CUDA float32: tensorforge.cuda.layer_norm_*
  gelu          CPU: our C++ kernels (elementwise.py); CUDA float32: tensorforge.cuda.gelu_*
  softmax       CUDA float32 over the last dim: tensorforge.cuda.softmax_* (forward, and the backward
  log_softmax   unless it is being differentiated again); else the max-shifted array ops of softmax.py
  cross_entropy CUDA float32 (N, C) logits with class indices: tensorforge.cuda.cross_entropy_*
                (ops/cross_entropy_cuda.py); else the composed loss of loss.py
"""
import numpy as np

from .. import _C
from .._backend import xp
from .._precision import get_float32_matmul_precision
from . import spatial_composed as composed

_F32 = np.dtype(np.float32)


def _cuda():
    from .. import cuda

    return cuda


def on_cuda(a):
    return xp(a) is not np


def index_add(out, idx, src):
    """out[idx] += src with repeated indices accumulating. CPU: np.add.at, except for a 1-D integer
    index of rows (embedding backward), where a stable sort groups equal indices and one add.reduceat
    sums each group (np.add.at's unbuffered scatter is ~20x slower); CUDA: cupyx.scatter_add."""
    if not on_cuda(out):
        rows = isinstance(idx, np.ndarray) and idx.ndim == 1 and idx.dtype.kind in "iu" and src.shape[:1] == idx.shape
        if not rows:
            np.add.at(out, idx, src)
            return
        if idx.size == 0:
            return
        order = np.argsort(idx, kind="stable")
        ordered = idx[order]
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        out[ordered[starts]] += np.add.reduceat(src[order], starts, axis=0)
        return
    import cupyx

    cupyx.scatter_add(out, idx, src)


# ---- GEMM ----------------------------------------------------------------------------------------------
def _gemm_ready(a):
    """True when the last two dims are contiguous along one of them (what both GEMM kernels take)."""
    isz = a.itemsize
    rs, cs = a.strides[-2], a.strides[-1]
    if rs % isz or cs % isz or rs < 0 or cs < 0:
        return False
    rs, cs = rs // isz, cs // isz
    rows, cols = a.shape[-2], a.shape[-1]
    if (cols == 1 or cs == 1) and (rows == 1 or rs >= max(cols, 1)):
        return True
    return (rows == 1 or rs == 1) and (cols == 1 or cs >= max(rows, 1))


def gemm_operand(a):
    """a itself when a GEMM kernel can read it (row-major or transposed, any batch stride >= 0), else a
    contiguous copy on a's device."""
    if _gemm_ready(a) and (a.ndim < 3 or a.strides[0] >= 0):
        return a
    return xp(a).ascontiguousarray(a)


def _matmul_precision():
    """tensorforge.set_float32_matmul_precision's setting where the GPU has tensor cores, else "highest"
    (the setting is a permission, as in PyTorch)."""
    precision = get_float32_matmul_precision()
    if precision != "highest" and _cuda().tensor_core_path().startswith("none"):
        return "highest"
    return precision


def gemm(a, b, out, beta=0.0):
    """out = a @ b + beta * out for 2-D, or 3-D batched (batch, m, k) @ (batch, k, n), arrays of one dtype
    and device. CPU: our GEMM. CUDA float32: our CUDA GEMM at the float32 matmul precision (tf32 / bf16
    tensor cores where allowed). CUDA float64: cupy.matmul (cuBLAS)."""
    if not on_cuda(out):
        _C.gemm(gemm_operand(a), gemm_operand(b), out, beta=beta)
        return out
    if out.dtype == _F32 and a.dtype == _F32 and b.dtype == _F32:
        _cuda().gemm(gemm_operand(a), gemm_operand(b), out, beta=float(beta), precision=_matmul_precision())
        return out
    cp = xp(out)
    if beta == 0:
        out[...] = cp.matmul(a, b)
    else:
        out[...] = cp.matmul(a, b) + beta * out
    return out


# ---- conv2d ----------------------------------------------------------------------------------------
def conv2d_forward(x, w, b, geometry, out_hw):
    stride, padding, dilation, groups = geometry
    if not on_cuda(x):
        y = np.empty((x.shape[0], w.shape[0]) + tuple(out_hw), x.dtype)
        _C.conv2d_forward(x, w, b, y, *geometry)
        return y
    if x.dtype != _F32:
        return composed.conv2d_forward(x, w, b, geometry, out_hw)
    y = xp(x).empty((x.shape[0], w.shape[0]) + tuple(out_hw), x.dtype)  # out= gives asymmetric padding
    return _cuda().conv2d_forward(x, w, b, stride, padding, dilation, groups, out=y)


def conv2d_grad_input(g, w, x_shape, geometry):
    if not on_cuda(g):
        gx = np.empty(x_shape, g.dtype)
        _C.conv2d_grad_input(g, w, gx, *geometry)
        return gx
    if g.dtype != _F32:
        return composed.conv2d_grad_input(g, w, x_shape, geometry)
    return _cuda().conv2d_grad_input(g, w, x_shape, *geometry, out=xp(g).empty(x_shape, g.dtype))


def conv2d_grad_weight(x, g, w_shape, geometry):
    if not on_cuda(g):
        gw = np.empty(w_shape, g.dtype)
        _C.conv2d_grad_weight(x, g, gw, *geometry)
        return gw
    if g.dtype != _F32:
        return composed.conv2d_grad_weight(x, g, w_shape, geometry)
    return _cuda().conv2d_grad_weight(x, g, w_shape, *geometry, out=xp(g).empty(w_shape, g.dtype))


# ---- pooling ---------------------------------------------------------------------------------------
def max_pool2d_forward(x, out_hw, kernel, stride, padding, dilation, ceil_mode):
    """(y, flat in-plane int64 indices)."""
    if not on_cuda(x):
        y = np.empty(x.shape[:2] + tuple(out_hw), x.dtype)
        idx = np.empty(y.shape, np.int64)
        _C.max_pool2d_forward(x, y, idx, kernel, stride, padding, dilation)
        return y, idx
    if x.dtype != _F32:
        return composed.max_pool2d_forward(x, out_hw, kernel, stride, padding, dilation)
    y, idx = _cuda().max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
    assert y.shape[2:] == tuple(out_hw), (y.shape, out_hw)
    return y, idx


def max_pool2d_backward(g, idx, x_shape, kernel, stride, padding, dilation):
    if not on_cuda(g):
        dx = np.empty(x_shape, g.dtype)
        _C.max_pool2d_backward(g, idx, dx)
        return dx
    if g.dtype != _F32:
        return composed.max_pool2d_backward(g, idx, x_shape, kernel, stride, padding, dilation)
    return _cuda().max_pool2d_backward(g, idx, x_shape, kernel, stride, padding, dilation)


def avg_pool2d_forward(x, out_hw, kernel, stride, padding, ceil_mode, count_include_pad, divisor):
    """divisor 0 means none (count the window)."""
    if not on_cuda(x):
        y = np.empty(x.shape[:2] + tuple(out_hw), x.dtype)
        _C.avg_pool2d_forward(x, y, kernel, stride, padding, count_include_pad, divisor)
        return y
    if x.dtype != _F32:
        return composed.avg_pool2d_forward(x, out_hw, kernel, stride, padding, count_include_pad, divisor)
    y = _cuda().avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor or None)
    assert y.shape[2:] == tuple(out_hw), (y.shape, out_hw)
    return y


def avg_pool2d_backward(g, x_shape, kernel, stride, padding, count_include_pad, divisor):
    if not on_cuda(g):
        dx = np.empty(x_shape, g.dtype)
        _C.avg_pool2d_backward(g, dx, kernel, stride, padding, count_include_pad, divisor)
        return dx
    if g.dtype != _F32:
        return composed.avg_pool2d_backward(g, x_shape, kernel, stride, padding, count_include_pad, divisor)
    return _cuda().avg_pool2d_backward(g, x_shape, kernel, stride, padding, count_include_pad, divisor or None)


def _adaptive_average_matrix(cp, n_in, n_out, dtype):
    """(n_out, n_in) matrix whose row i averages PyTorch's adaptive window i of one axis:
    [floor(i * n_in / n_out), ceil((i + 1) * n_in / n_out)). The 2-D windows are products of the
    two axes' windows, so a 2-D adaptive average is A_h @ x @ A_w^T."""
    a = np.zeros((n_out, n_in), dtype)
    for i in range(n_out):
        start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        a[i, start:end] = 1.0 / (end - start)
    return cp.asarray(a)


def adaptive_avg_pool2d_forward(x, out_hw):
    """CPU: our kernel. CUDA: a reshape + mean where the output divides the input, else two
    products with the per-axis averaging matrices (cuBLAS through cupy)."""
    if not on_cuda(x):
        y = np.empty(x.shape[:2] + tuple(out_hw), x.dtype)
        _C.adaptive_avg_pool2d_forward(x, y)
        return y
    n, c, h, w = x.shape
    oh, ow = out_hw
    if h % oh == 0 and w % ow == 0:
        return x.reshape(n, c, oh, h // oh, ow, w // ow).mean(axis=(3, 5))
    cp = xp(x)
    ah, aw = _adaptive_average_matrix(cp, h, oh, x.dtype), _adaptive_average_matrix(cp, w, ow, x.dtype)
    return cp.ascontiguousarray(cp.matmul(cp.matmul(ah, x), aw.T))


def adaptive_avg_pool2d_backward(g, x_shape):
    if not on_cuda(g):
        dx = np.empty(x_shape, g.dtype)
        _C.adaptive_avg_pool2d_backward(g, dx)
        return dx
    n, c, oh, ow = g.shape
    h, w = x_shape[2:]
    cp = xp(g)
    if h % oh == 0 and w % ow == 0:
        fh, fw = h // oh, w // ow
        dx = cp.broadcast_to((g / (fh * fw))[:, :, :, None, :, None], (n, c, oh, fh, ow, fw))
        return cp.ascontiguousarray(dx).reshape(x_shape)
    ah, aw = _adaptive_average_matrix(cp, h, oh, g.dtype), _adaptive_average_matrix(cp, w, ow, g.dtype)
    return cp.ascontiguousarray(cp.matmul(cp.matmul(ah.T, g), aw))


# ---- layer_norm ------------------------------------------------------------------------------------
def layer_norm_kernel_ok(d, *params):
    """Whether a fused LayerNorm kernel takes these arrays: CPU float32/float64, or CUDA float32, with the
    parameters (or None) on the same device and of the same dtype."""
    m = xp(d)
    allowed = (np.float32, np.float64) if m is np else (np.float32,)
    return d.dtype in allowed and all(a is None or (xp(a) is m and a.dtype == d.dtype) for a in params)


def layer_norm_forward(d, n, weight, bias, eps):
    """(out, mean, rstd) over rows of the last n elements of the C-contiguous array d."""
    m = xp(d)
    weight = None if weight is None else m.ascontiguousarray(weight)
    bias = None if bias is None else m.ascontiguousarray(bias)
    if m is not np:
        return _cuda().layer_norm_forward(d, n, weight, bias, eps)
    rows = d.size // n
    out, mean, rstd = np.empty_like(d), np.empty(rows, d.dtype), np.empty(rows, d.dtype)
    _C.layer_norm(d, n, weight, bias, eps, out, mean, rstd)
    return out, mean, rstd


def layer_norm_backward(g, d, mean, rstd, weight, need_x, need_weight, need_bias):
    """(grad_x, grad_weight, grad_bias) of layer_norm_forward, None where not needed."""
    m = xp(d)
    n = d.size // mean.size
    g = m.ascontiguousarray(g, dtype=d.dtype)
    weight = None if weight is None else m.ascontiguousarray(weight)
    if m is not np:
        return _cuda().layer_norm_backward(g, d, n, mean, rstd, weight, need_input_grad=need_x,
                                           need_weight_grad=need_weight, need_bias_grad=need_bias)
    gx = np.empty_like(d) if need_x else None
    gw = np.empty(n, d.dtype) if need_weight else None
    gb = np.empty(n, d.dtype) if need_bias else None
    _C.layer_norm_backward(g, d, mean, rstd, weight, gx, gw, gb)
    return gx, gw, gb


# ---- gelu (CUDA; the CPU kernels are called from elementwise.py) -------------------------------------
def gelu_cuda_forward(d, approximate):
    """gelu of a CUDA float32 array with our kernel."""
    return _cuda().gelu_forward(xp(d).ascontiguousarray(d), approximate)


def gelu_cuda_backward(x, g, approximate):
    """gelu'(x) * g for CUDA float32 arrays with our kernel."""
    m = xp(x)
    return _cuda().gelu_backward(m.ascontiguousarray(g), m.ascontiguousarray(x), approximate)


# ---- softmax / log_softmax (CUDA float32 over the last dim; elsewhere softmax.py's array ops) ---------
def softmax_cuda_ok(d, axis):
    """Whether our CUDA softmax kernels take this array: CUDA float32, the softmax over its last dim."""
    return on_cuda(d) and d.dtype == _F32 and d.ndim >= 1 and axis == d.ndim - 1


def softmax_cuda_forward(d, log):
    """softmax (log: log_softmax) over the last dim of a CUDA float32 array with our kernel."""
    return _cuda().softmax_forward(xp(d).ascontiguousarray(d), log=log)


def softmax_cuda_backward(y, g, log):
    """The input gradient of softmax_cuda_forward from its output y and the output gradient g."""
    m = xp(y)
    return _cuda().softmax_backward(m.ascontiguousarray(g, dtype=y.dtype), m.ascontiguousarray(y), log=log)
