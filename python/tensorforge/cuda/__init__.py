"""tensorforge.cuda: the CUDA backend from Python.

Queries (work in every build, with or without a driver or cupy):
    is_built()      the CUDA kernels were compiled into this build
    device_count()  GPUs the CUDA runtime sees (0 with no driver or no device)
    is_available()  built and at least one GPU visible
    build_info()    CUDA version and architectures compiled

Kernels, on any array exposing ``__cuda_array_interface__`` (cupy arrays, torch CUDA tensors):
    gemm(a, b, out=None, *, alpha=1.0, beta=0.0, stream=None)
    adamw_step(params, grads, exp_avgs, exp_avg_sqs, *, lr, step, ...)  (adam_step: L2 variant)
    synchronize()

Kernels run asynchronously on ``stream``: by default torch's current stream for torch tensors,
else cupy's current stream (``cupy.cuda.get_current_stream()``), else the legacy default stream
(0). cupy is imported lazily, only when a function needs it.

Status: these kernels compiled with nvcc on machines without a GPU; until the CUDA tests in
tests/test_cuda_kernels.py have passed on a GPU (bench/gpu_suite.sh), nothing here is known to
be correct or fast on a device.
"""
from .. import _C

__all__ = [
    "is_built",
    "is_available",
    "device_count",
    "build_info",
    "synchronize",
    "current_stream",
    "gemm",
    "adamw_step",
    "adam_step",
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


def gemm(a, b, out=None, *, alpha=1.0, beta=0.0, stream=None):
    """out = alpha * a @ b + beta * out with our CUDA fp32 kernel; returns out.

    a (m, k) @ b (k, n) -> out (m, n), or batched (batch, m, k) @ (batch, k, n); transposed views
    (``x.T``) become transpose flags, batch strides of 0 broadcast. beta == 0 ignores out's contents.
    With out=None a new array of a's library (cupy or torch) is returned; beta must then be 0.
    """
    if out is None:
        if beta != 0:
            raise ValueError("gemm: beta != 0 needs an `out` to accumulate into")
        _require_available("gemm")
        out = _empty_result(a, b)
        if out is None:
            raise TypeError("gemm: a and b must be CUDA arrays with a shape (cupy arrays or torch CUDA tensors), "
                            f"got {type(a).__name__} and {type(b).__name__}")
    _C.cuda_gemm(a, b, out, alpha=float(alpha), beta=float(beta), stream=_stream_arg(stream, (a, b, out)))
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
