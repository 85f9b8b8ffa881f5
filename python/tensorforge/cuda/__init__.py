"""tensorforge.cuda: the CUDA backend from Python.

CUDA tensors: a Tensor on "cuda" holds a cupy array (install cupy with the extra:
``pip install "tensorforge[cuda]"`` gives cupy-cuda13x; ``cupy-cuda12x`` for a CUDA 12 driver).
``x.cuda()``, ``x.to("cuda")``, ``device="cuda"`` in the creation functions, ``module.to("cuda")``
and ``load(map_location="cuda")`` put data there; every op then runs on the device: matmul/linear,
conv2d, pooling, scaled_dot_product_attention, layer_norm, gelu, softmax / log_softmax (last dim) and
cross_entropy (class indices) and Adam/AdamW (float32) on the kernels below
(python/tensorforge/ops/_kernels.py and ops/attention_cuda.py choose), the rest on cupy's own
operations. Nothing has run on a real GPU yet (see Status).

Queries (work in every build, with or without a driver or cupy):
    is_built()      the CUDA kernels were compiled into this build
    device_count()  GPUs the CUDA runtime sees (0 with no driver or no device)
    is_available()  built and at least one GPU visible
    build_info()    CUDA version and architectures compiled
    memory_allocated(device=None) / memory_reserved(device=None) / empty_cache()
                    cupy's memory pool, with torch.cuda's names (0 / no-op without cupy or a GPU)
    tensor_core_path()  the kernel precision "high" / "medium" run on the current device:
                    "wgmma (sm_90a, ...)" on Hopper, "mma.sync (...)" on Ampere / Ada, "none (why)"

Kernels, on any array exposing ``__cuda_array_interface__`` (cupy arrays, torch CUDA tensors):
    gemm(a, b, out=None, *, alpha=1.0, beta=0.0, stream=None, precision="highest"|"high"|"medium",
         tensor_core="auto"|"wgmma"|"mma_sync")
    adamw_step(params, grads, exp_avgs, exp_avg_sqs, *, lr, step, ...)  (adam_step: L2 variant)
    conv2d_forward / conv2d_grad_input / conv2d_grad_weight   (NCHW float32, implicit GEMM)
    max_pool2d_forward / max_pool2d_backward / avg_pool2d_forward / avg_pool2d_backward
    attention_forward / attention_backward   (fused flash-style attention, saves log-sum-exp;
                                              precision="high"/"medium": tf32 / bf16 tensor cores)
    set_float32_matmul_precision / get_float32_matmul_precision
                    "highest" (default), "high" or "medium", as torch.set_float32_matmul_precision
                    (also tensorforge.set_float32_matmul_precision): the precision matmul / linear and
                    F.scaled_dot_product_attention on CUDA float32 tensors run at
    layer_norm_forward / layer_norm_backward, gelu_forward / gelu_backward
    softmax_forward / softmax_backward   (softmax or log-softmax over the last dim, log=True)
    cross_entropy_forward / cross_entropy_backward   (fused, class indices, weights, ignore_index,
                                                      label_smoothing; never materialises log-probs)
    synchronize()

Kernels run asynchronously on ``stream``: by default torch's current stream for torch tensors,
else cupy's current stream (``cupy.cuda.get_current_stream()``), else the legacy default stream
(0). cupy is imported lazily, only when a function needs it.

Status: these kernels compiled with nvcc on machines without a GPU; until the CUDA tests in
tests/test_cuda_kernels.py have passed on a GPU (bench/gpu_suite.sh), nothing here is known to
be correct or fast on a device.
"""
from .. import _C
from .._precision import check_precision, get_float32_matmul_precision, set_float32_matmul_precision

__all__ = [
    "is_built",
    "is_available",
    "device_count",
    "build_info",
    "tensor_core_path",
    "synchronize",
    "memory_allocated",
    "memory_reserved",
    "empty_cache",
    "current_stream",
    "gemm",
    "adamw_step",
    "adam_step",
    "conv2d_forward",
    "conv2d_grad_input",
    "conv2d_grad_weight",
    "max_pool2d_forward",
    "max_pool2d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "attention_forward",
    "attention_backward",
    "set_float32_matmul_precision",
    "get_float32_matmul_precision",
    "layer_norm_forward",
    "layer_norm_backward",
    "gelu_forward",
    "gelu_backward",
    "softmax_forward",
    "softmax_backward",
    "cross_entropy_forward",
    "cross_entropy_backward",
]

_BUILT_WITHOUT = ("tensorforge was built without CUDA; rebuild with TENSORFORGE_CUDA=ON and nvcc on PATH "
                  "(e.g. TENSORFORGE_CUDA=ON pip install .)")


def is_built():
    """True when this build compiled the CUDA kernels (TENSORFORGE_CUDA=ON, or AUTO with nvcc)."""
    return bool(_C.cuda_is_built())


def device_count():
    """Number of GPUs the CUDA runtime sees; 0 when not built, with no driver or no device."""
    return int(_C.cuda_device_count())


def is_available():
    """True when the CUDA kernels are built and at least one GPU is visible (like torch.cuda.is_available)."""
    return is_built() and device_count() > 0


def build_info():
    """CUDA runtime version and the GPU architectures compiled, or why CUDA was not built."""
    return _C.cuda_build_info()


def tensor_core_path():
    """The tensor-core GEMM that precision "high" / "medium" use on the current device, as text:
    "wgmma (sm_90a, gemm_wgmma.cu)" on a compute capability 9.0 GPU running this build's sm_90a code,
    "mma.sync (gemm_tensor_core.cu...)" on other GPUs of compute capability 8.0+, else "none (why)"."""
    return _C.cuda_tensor_core_path()


def _require_available(what):
    if not is_built():
        raise RuntimeError(f"tensorforge.cuda.{what}: {_BUILT_WITHOUT}")
    if device_count() == 0:
        raise RuntimeError(f"tensorforge.cuda.{what}: no CUDA device is visible (no NVIDIA GPU or driver found)")


def _import_cupy(what):
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(
            f"tensorforge.cuda.{what} needs cupy: pip install 'tensorforge[cuda]' (cupy-cuda13x; "
            "cupy-cuda12x for a CUDA 12 driver)") from e
    return cupy


def _try_import_cupy():
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def _is_torch(x):
    return type(x).__module__.split(".")[0] == "torch"


def current_stream(like=None):
    """The stream our kernels use by default, as an int: torch's current stream when `like` is a torch
    tensor, else cupy's current stream, else 0 (the legacy default stream)."""
    if like is not None and _is_torch(like) and getattr(like, "is_cuda", False):
        import torch
        return int(torch.cuda.current_stream(like.device).cuda_stream)
    if not is_available():
        return 0  # the kernel call then raises our "built without CUDA" / "no device" error, not cupy's
    cupy = _try_import_cupy()
    if cupy is None:
        return 0
    return int(cupy.cuda.get_current_stream().ptr)


def _stream_arg(stream, arrays):
    if stream is None:
        first = next((x for x in arrays if x is not None), None)
        return current_stream(first)
    if isinstance(stream, bool):
        raise TypeError("stream must be an int (a cudaStream_t) or a cupy/torch stream object")
    if isinstance(stream, int):
        return stream
    for attr in ("ptr", "cuda_stream"):  # cupy.cuda.Stream, torch.cuda.Stream
        if hasattr(stream, attr):
            return int(getattr(stream, attr))
    raise TypeError(f"stream must be an int (a cudaStream_t) or a cupy/torch stream object, got {type(stream).__name__}")


def _device_index(device):
    """The CUDA ordinal `device` names (an int, "cuda:1", a tensorforge.device), None for the current one."""
    if device is None:
        return None
    from .._backend import device as as_device

    d = as_device(device)
    if d.type != "cuda":
        raise ValueError(f"expected a CUDA device, got {d}")
    return d.index


def _pool_query(device, query):
    """query(cupy's default memory pool) on `device` (None: the current one); 0 without cupy or a GPU."""
    cupy = _try_import_cupy()
    if cupy is None or not is_available():
        return 0
    index = _device_index(device)
    if index is None:
        return int(query(cupy.get_default_memory_pool()))
    with cupy.cuda.Device(index):
        return int(query(cupy.get_default_memory_pool()))


def memory_allocated(device=None):
    """Bytes of device memory held by live CUDA tensors (arrays of cupy's default memory pool) on `device`
    (None: the current one), like torch.cuda.memory_allocated; 0 without cupy or a GPU."""
    return _pool_query(device, lambda pool: pool.used_bytes())


def memory_reserved(device=None):
    """Bytes cupy's memory pool holds on `device`, in use or cached for reuse (torch.cuda.memory_reserved)."""
    return _pool_query(device, lambda pool: pool.total_bytes())


def empty_cache():
    """Returns the cached, unused blocks of cupy's memory pools to the driver (torch.cuda.empty_cache);
    live tensors are not touched. Does nothing without cupy or a GPU."""
    cupy = _try_import_cupy()
    if cupy is None or not is_available():
        return
    cupy.get_default_memory_pool().free_all_blocks()
    cupy.get_default_pinned_memory_pool().free_all_blocks()


def synchronize():
    """Waits for all work on the current device (cupy, else torch, does the waiting)."""
    _require_available("synchronize")
    cupy = _try_import_cupy()
    if cupy is not None:
        cupy.cuda.Device().synchronize()
        return
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and torch.cuda.is_available():
        torch.cuda.synchronize()
        return
    _import_cupy("synchronize")  # raises the "needs cupy" error


def _empty_result(a, b):
    """A float32 output for a @ b on the same device and library as `a`."""
    try:
        shape = tuple(a.shape[:-1]) + (b.shape[-1],)
    except (AttributeError, IndexError, TypeError):
        return None  # let the binding report what is wrong with a and b
    if _is_torch(a):
        import torch
        return torch.empty(shape, dtype=torch.float32, device=a.device)
    cupy = _import_cupy("gemm (out=None)")
    return cupy.empty(shape, dtype=cupy.float32)


def gemm(a, b, out=None, *, alpha=1.0, beta=0.0, stream=None, precision="highest", tensor_core="auto"):
    """out = alpha * a @ b + beta * out with our CUDA kernels on float32 arrays; returns out.

    a (m, k) @ b (k, n) -> out (m, n), or batched (batch, m, k) @ (batch, k, n); transposed views
    (``x.T``) become transpose flags, batch strides of 0 broadcast. beta == 0 ignores out's contents.
    With out=None a new array of a's library (cupy or torch) is returned; beta must then be 0.

    ``precision`` names the products as PyTorch's ``set_float32_matmul_precision`` does:
    "highest" runs the fp32 FFMA kernel (gemm_f32.cu); "high" rounds the inputs to tf32 and
    "medium" to bfloat16 and multiplies on the tensor cores (compute capability 8.0 or newer); all
    three accumulate in float32. ``tensor_core`` picks the tensor-core kernel: "auto" runs wgmma
    (gemm_wgmma.cu) on a Hopper GPU whose sm_90a code this build holds and mma.sync
    (gemm_tensor_core.cu) elsewhere (``tensor_core_path()`` says which); "wgmma" or "mma_sync" force
    one (for tests and benchmarks; "wgmma" raises RuntimeError off Hopper).
    """
    if out is None:
        if beta != 0:
            raise ValueError("gemm: beta != 0 needs an `out` to accumulate into")
        _require_available("gemm")
        out = _empty_result(a, b)
        if out is None:
            raise TypeError("gemm: a and b must be CUDA arrays with a shape (cupy arrays or torch CUDA tensors), "
                            f"got {type(a).__name__} and {type(b).__name__}")
    _C.cuda_gemm(a, b, out, alpha=float(alpha), beta=float(beta), stream=_stream_arg(stream, (a, b, out)),
                 precision=precision, tensor_core=tensor_core)
    return out


def _adam(params, grads, exp_avgs, exp_avg_sqs, lr, beta1, beta2, eps, weight_decay, step, adamw, stream):
    params, grads, exp_avgs, exp_avg_sqs = list(params), list(grads), list(exp_avgs), list(exp_avg_sqs)
    # The binding checks every array, builds the (5, T) table of addresses and sizes, keeps a device
    # copy of it (cached by contents, so stepping the same tensors uploads nothing) and launches once.
    _C.cuda_adamw_step(params, grads, exp_avgs, exp_avg_sqs, lr=float(lr), beta1=float(beta1), beta2=float(beta2),
                       eps=float(eps), weight_decay=float(weight_decay), step=int(step), adamw=adamw,
                       stream=_stream_arg(stream, params))


def adamw_step(params, grads, exp_avgs, exp_avg_sqs, *, lr, step, beta1=0.9, beta2=0.999, eps=1e-8,
               weight_decay=1e-2, stream=None):
    """One fused AdamW step (torch.optim.AdamW's formula, decoupled weight decay) over lists of CUDA
    float32 arrays, in place, one kernel launch. `step` counts this step (1 for the first); the bias
    corrections 1 - beta^step are computed on the host."""
    _adam(params, grads, exp_avgs, exp_avg_sqs, lr, beta1, beta2, eps, weight_decay, step, True, stream)


def adam_step(params, grads, exp_avgs, exp_avg_sqs, *, lr, step, beta1=0.9, beta2=0.999, eps=1e-8,
              weight_decay=0.0, stream=None):
    """One fused Adam step (torch.optim.Adam's formula: weight decay as L2 added to the gradient)."""
    _adam(params, grads, exp_avgs, exp_avg_sqs, lr, beta1, beta2, eps, weight_decay, step, False, stream)


# ---------------------------------------------------------------------------------------------
# conv2d, pooling, attention (compiled and run under CPU emulation only; never on a GPU yet)

def _pair(v, name):
    if isinstance(v, bool):
        raise TypeError(f"{name} must be an int or a pair of ints")
    if isinstance(v, int):
        return (v, v)
    t = tuple(int(x) for x in v)
    if len(t) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
    return t


def _empty_like_lib(like, shape, dtype="float32"):
    """A new uninitialised array of `like`'s library (torch or cupy) on its device."""
    if _is_torch(like):
        import torch
        return torch.empty(tuple(shape), dtype=getattr(torch, dtype), device=like.device)
    cupy = _import_cupy("allocating an output")
    return cupy.empty(tuple(shape), dtype=getattr(cupy, dtype))


def _scratch_on(stream, like, shape):
    """A float32 temporary for kernels enqueued on `stream`, allocated in that stream's order: cupy's and
    torch's pools hand a freed block only to later work on the stream it was allocated for, so dropping the
    temporary right after the launch is safe even when `stream` is not the current one."""
    if stream == current_stream(like):
        return _empty_like_lib(like, shape)
    if _is_torch(like):
        import torch
        with torch.cuda.stream(torch.cuda.ExternalStream(stream, device=like.device)):
            return torch.empty(tuple(shape), dtype=torch.float32, device=like.device)
    cupy = _import_cupy("allocating a workspace")
    with cupy.cuda.ExternalStream(stream):
        return cupy.empty(tuple(shape), dtype=cupy.float32)


def _shape(x, what):
    try:
        return tuple(int(d) for d in x.shape)
    except (AttributeError, TypeError):
        raise TypeError(f"{what} must be a CUDA array (cupy array or torch CUDA tensor), got {type(x).__name__}") from None


def _conv_out(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def conv2d_forward(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, out=None, stream=None):
    """y = conv2d(input, weight) + bias (PyTorch's cross-correlation) on NCHW float32 CUDA arrays; returns y."""
    stride, padding, dilation = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    if out is None:
        _require_available("conv2d_forward")
        n, _, h, w = _shape(input, "input")
        c_out, _, kh, kw = _shape(weight, "weight")
        out = _empty_like_lib(input, (n, c_out, _conv_out(h, kh, stride[0], padding[0], dilation[0]),
                                      _conv_out(w, kw, stride[1], padding[1], dilation[1])))
    _C.cuda_conv2d_forward(input, weight, bias, out, stride, padding, dilation, int(groups),
                           stream=_stream_arg(stream, (input, weight, out)))
    return out


def conv2d_grad_input(grad_output, weight, input_shape, stride=1, padding=0, dilation=1, groups=1, *, out=None,
                      stream=None):
    """The gradient of conv2d with respect to its input (of shape `input_shape`); returns it."""
    stride, padding, dilation = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    if out is None:
        _require_available("conv2d_grad_input")
        out = _empty_like_lib(grad_output, tuple(input_shape))
    _C.cuda_conv2d_grad_input(grad_output, weight, out, stride, padding, dilation, int(groups),
                              stream=_stream_arg(stream, (grad_output, weight, out)))
    return out


def conv2d_grad_weight(input, grad_output, weight_shape, stride=1, padding=0, dilation=1, groups=1, *, out=None,
                       stream=None):
    """The gradient of conv2d with respect to its weight (of shape `weight_shape`); returns it. The bias
    gradient is grad_output.sum((0, 2, 3))."""
    stride, padding, dilation = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    if out is None:
        _require_available("conv2d_grad_weight")
        out = _empty_like_lib(input, tuple(weight_shape))
    _C.cuda_conv2d_grad_weight(input, grad_output, out, stride, padding, dilation, int(groups),
                               stream=_stream_arg(stream, (input, grad_output, out)))
    return out


def _pool_out(size, k, s, p, d, ceil_mode):
    span = size + 2 * p - d * (k - 1) - 1
    o = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (o - 1) * s >= size + p:
        o -= 1
    return o


def _pool_args(kernel_size, stride, padding, dilation):
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None or (not isinstance(stride, int) and len(tuple(stride)) == 0) else _pair(stride, "stride")
    return k, s, _pair(padding, "padding"), _pair(dilation, "dilation")


def max_pool2d_forward(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, *, stream=None):
    """Max pooling (PyTorch's max_pool2d); returns (out, indices) with int64 flat in-plane indices."""
    k, s, p, d = _pool_args(kernel_size, stride, padding, dilation)
    _require_available("max_pool2d_forward")
    n, c, h, w = _shape(input, "input")
    shape = (n, c, _pool_out(h, k[0], s[0], p[0], d[0], ceil_mode), _pool_out(w, k[1], s[1], p[1], d[1], ceil_mode))
    out, idx = _empty_like_lib(input, shape), _empty_like_lib(input, shape, "int64")
    _C.cuda_max_pool2d_forward(input, out, idx, k, s, p, d, stream=_stream_arg(stream, (input,)))
    return out, idx


def max_pool2d_backward(grad_output, indices, input_shape, kernel_size, stride=None, padding=0, dilation=1, *,
                        stream=None):
    """The gradient of max pooling with respect to its input (of shape `input_shape`)."""
    k, s, p, d = _pool_args(kernel_size, stride, padding, dilation)
    _require_available("max_pool2d_backward")
    dx = _empty_like_lib(grad_output, tuple(input_shape))
    _C.cuda_max_pool2d_backward(grad_output, indices, dx, k, s, p, d, stream=_stream_arg(stream, (grad_output,)))
    return dx


def avg_pool2d_forward(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                       divisor_override=None, *, stream=None):
    """Average pooling (PyTorch's avg_pool2d)."""
    k, s, p, _ = _pool_args(kernel_size, stride, padding, 1)
    _require_available("avg_pool2d_forward")
    n, c, h, w = _shape(input, "input")
    out = _empty_like_lib(input, (n, c, _pool_out(h, k[0], s[0], p[0], 1, ceil_mode),
                                  _pool_out(w, k[1], s[1], p[1], 1, ceil_mode)))
    _C.cuda_avg_pool2d_forward(input, out, k, s, p, bool(count_include_pad), divisor_override,
                               stream=_stream_arg(stream, (input,)))
    return out


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0, count_include_pad=True,
                        divisor_override=None, *, stream=None):
    """The gradient of average pooling with respect to its input (of shape `input_shape`)."""
    k, s, p, _ = _pool_args(kernel_size, stride, padding, 1)
    _require_available("avg_pool2d_backward")
    dx = _empty_like_lib(grad_output, tuple(input_shape))
    _C.cuda_avg_pool2d_backward(grad_output, dx, k, s, p, bool(count_include_pad), divisor_override,
                                stream=_stream_arg(stream, (grad_output,)))
    return dx


def attention_forward(query, key, value, attn_mask=None, is_causal=False, scale=None, *, precision="highest",
                      stream=None):
    """Fused attention, softmax(scale * q k^T + mask) v, on float32 (B, H, L, E) / (B, H, S, E) CUDA arrays
    (any strides with a contiguous last dim, E <= 128). attn_mask: None, float32 (added) or bool (True =
    attend), broadcastable to (B, H, L, S); is_causal masks keys j > i (PyTorch's convention); scale
    defaults to 1/sqrt(E). Returns (out, lse) with lse the (B, H, L) log-sum-exp for the backward. A query
    whose keys are all masked gets zeros (PyTorch's math path gives NaN).

    ``precision`` "highest" runs the fp32 kernel (attention_forward.cu); "high" and "medium" allow tf32 /
    bfloat16 products on the tensor cores (attention_tc_forward.cu: tf32 for E <= 64, bf16 for E <= 128,
    compute capability 8.0 or newer; elsewhere the fp32 kernel runs). Pass the same precision to
    attention_backward."""
    check_precision(precision)
    _require_available("attention_forward")
    b, h, l, e = _shape(query, "query")
    out = _empty_like_lib(query, (b, h, l, e))
    lse = _empty_like_lib(query, (b, h, l))
    _C.cuda_attention_forward(query, key, value, attn_mask, out, lse, scale=scale, is_causal=bool(is_causal),
                              stream=_stream_arg(stream, (query,)), precision=precision)
    return out, lse


def attention_backward(grad_out, query, key, value, out, lse, attn_mask=None, is_causal=False, scale=None, *,
                       precision="highest", stream=None):
    """Gradients (grad_query, grad_key, grad_value) of attention_forward, recomputed from its out and lse,
    at the forward's `precision`."""
    check_precision(precision)
    _require_available("attention_backward")
    qshape = _shape(query, "query")
    dq = _empty_like_lib(query, qshape)
    dk = _empty_like_lib(query, _shape(key, "key"))
    dv = _empty_like_lib(query, _shape(value, "value"))
    st = _stream_arg(stream, (query,))
    workspace = None if precision == "highest" else _scratch_on(st, query, qshape[:3])
    _C.cuda_attention_backward(query, key, value, attn_mask, out, grad_out, lse, dq, dk, dv, scale=scale,
                               is_causal=bool(is_causal), stream=st, precision=precision, workspace=workspace)
    return dq, dk, dv


# ---------------------------------------------------------------------------------------------
# LayerNorm and GELU (compiled and run under CPU emulation only; never on a GPU yet)

def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def layer_norm_forward(x, normalized_size, weight=None, bias=None, eps=1e-5, *, stream=None):
    """LayerNorm of a contiguous float32 CUDA array over its last `normalized_size` elements (the product
    of normalized_shape); weight and bias (normalized_size elements) are optional. Returns (y, mean, rstd),
    mean and rstd of shape (x.size // normalized_size,) for layer_norm_backward."""
    _require_available("layer_norm_forward")
    shape = _shape(x, "x")
    rows = _size(shape) // max(int(normalized_size), 1)
    y = _empty_like_lib(x, shape)
    mean, rstd = _empty_like_lib(x, (rows,)), _empty_like_lib(x, (rows,))
    _C.cuda_layer_norm_forward(x, int(normalized_size), weight, bias, y, mean, rstd, eps=float(eps),
                               stream=_stream_arg(stream, (x,)))
    return y, mean, rstd


def layer_norm_backward(grad_output, x, normalized_size, mean, rstd, weight=None, *, need_input_grad=True,
                        need_weight_grad=True, need_bias_grad=True, stream=None):
    """Gradients (grad_input, grad_weight, grad_bias) of layer_norm_forward from its saved mean and rstd;
    an entry is None where it was not asked for."""
    _require_available("layer_norm_backward")
    shape = _shape(x, "x")
    dx = _empty_like_lib(x, shape) if need_input_grad else None
    dw = _empty_like_lib(x, (int(normalized_size),)) if need_weight_grad else None
    db = _empty_like_lib(x, (int(normalized_size),)) if need_bias_grad else None
    _C.cuda_layer_norm_backward(x, int(normalized_size), weight, mean, rstd, grad_output, dx, dw, db,
                                stream=_stream_arg(stream, (x,)))
    return dx, dw, db


def gelu_forward(x, approximate="none", *, stream=None):
    """gelu(x) of a contiguous float32 CUDA array, exact (erf) or approximate='tanh'."""
    _require_available("gelu_forward")
    y = _empty_like_lib(x, _shape(x, "x"))
    _C.cuda_gelu_forward(x, y, approximate=approximate, stream=_stream_arg(stream, (x,)))
    return y


def gelu_backward(grad_output, x, approximate="none", *, stream=None):
    """gelu'(x) * grad_output for contiguous float32 CUDA arrays."""
    _require_available("gelu_backward")
    dx = _empty_like_lib(x, _shape(x, "x"))
    _C.cuda_gelu_backward(x, grad_output, dx, approximate=approximate, stream=_stream_arg(stream, (x,)))
    return dx


# ---------------------------------------------------------------------------------------------
# softmax / log-softmax and fused cross-entropy (compiled and run under CPU emulation only; never on a GPU yet)

def softmax_forward(x, log=False, *, stream=None):
    """softmax (log=True: log_softmax) of a contiguous float32 CUDA array over its last dimension."""
    _require_available("softmax_forward")
    y = _empty_like_lib(x, _shape(x, "x"))
    _C.cuda_softmax_forward(x, y, log=bool(log), stream=_stream_arg(stream, (x,)))
    return y


def softmax_backward(grad_output, y, log=False, *, stream=None):
    """The gradient of softmax_forward with respect to its input, from its output y:
    y * (g - sum(g * y)) for softmax, g - exp(y) * sum(g) for log_softmax (sums over the last dim)."""
    _require_available("softmax_backward")
    dx = _empty_like_lib(y, _shape(y, "y"))
    _C.cuda_softmax_backward(y, grad_output, dx, log=bool(log), stream=_stream_arg(stream, (y,)))
    return dx


def _host_int(a):
    """One integer from a 1-element device array (waits for the stream that wrote it)."""
    return int(a.item()) if _is_torch(a) else int(a.reshape(-1)[0].item())


def cross_entropy_forward(input, target, weight=None, ignore_index=-100, label_smoothing=0.0, *,
                          check_targets=True, stream=None):
    """Per-row cross-entropy (PyTorch's F.cross_entropy with reduction='none') of (N, C) float32 CUDA logits
    against (N,) int64 class indices, fused: no (N, C) intermediate. Returns (loss, stats, row_weight):
    loss (N,); stats (N, 2), each row's max and log-normaliser, for cross_entropy_backward; row_weight (N,),
    weight[target] (1 without weights) and 0 for ignored rows, whose sum divides the loss for 'mean'.

    Targets out of [0, C) (other than ignore_index) give NaN rows and, with check_targets (the default),
    an IndexError: the kernel records the first such row in a device flag, read back here (this waits
    for the kernel; check_targets=False skips the wait and leaves the NaN rows to the caller)."""
    _require_available("cross_entropy_forward")
    n = _shape(input, "input")[0]
    loss, row_weight = _empty_like_lib(input, (n,)), _empty_like_lib(input, (n,))
    stats, bad_row = _empty_like_lib(input, (n, 2)), _empty_like_lib(input, (1,), "int64")
    _C.cuda_cross_entropy_forward(input, target, weight, loss, stats, row_weight, bad_row,
                                  ignore_index=int(ignore_index), label_smoothing=float(label_smoothing),
                                  stream=_stream_arg(stream, (input,)))
    if check_targets:
        row = _host_int(bad_row)
        if row >= 0:
            value = int(target[row].item())
            raise IndexError(f"cross_entropy: target {value} is out of bounds for {input.shape[1]} classes "
                             f"(row {row}; ignore_index is {ignore_index})")
    return loss, stats, row_weight


def cross_entropy_backward(grad_output, input, target, stats, weight=None, ignore_index=-100, label_smoothing=0.0,
                           *, stream=None):
    """The gradient (N, C) of cross_entropy_forward's per-row loss with respect to the logits, in one pass:
    grad_output[r] * (softmax(input[r]) * sum(coef[r]) - coef[r]), coef the weighted, smoothed one-hot
    target; grad_output is (N,) or 0-d (one value for every row: 'sum', or 'mean' divided by the divisor)."""
    _require_available("cross_entropy_backward")
    dx = _empty_like_lib(input, _shape(input, "input"))
    _C.cuda_cross_entropy_backward(input, target, weight, stats, grad_output, dx, ignore_index=int(ignore_index),
                                   label_smoothing=float(label_smoothing), stream=_stream_arg(stream, (input,)))
    return dx
