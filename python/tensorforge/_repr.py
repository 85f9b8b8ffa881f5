"""__repr__ of tensors in PyTorch's style: tensor([[ 1.0000, -2.5000]], requires_grad=True)."""
import numpy as np

from . import _dtype

_IMPLICIT_DTYPES = (_dtype.float32, _dtype.int64, _dtype.bool_)


def _float_formatter(a):
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        fmt = "{:.4f}".format
    else:
        amax = float(np.abs(finite).max())
        nonzero = np.abs(finite[finite != 0])
        amin = float(nonzero.min()) if nonzero.size else 0.0
        if np.all(finite == np.round(finite)) and amax < 1e8:
            fmt = "{:.0f}.".format
        elif amax >= 1e8 or (amin != 0 and (amin < 1e-4 or amax / amin > 1e3)):
            fmt = "{:.4e}".format
        else:
            fmt = "{:.4f}".format
    samples = [a.max(), a.min()] + ([float(finite.max()), float(finite.min())] if finite.size else [])
    width = max(len(_format_special(fmt, float(v))) for v in samples)
    return lambda v: _format_special(fmt, float(v)).rjust(width)


def _format_special(fmt, v):
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return fmt(v)


def tensor_repr(t):
    a = t._data if t.device.type == "cpu" else t._data.get()  # printing a CUDA tensor copies it to the host
    suffix = []
    if t.device.type != "cpu":
        suffix.append(f"device='{t.device}'")
    if a.size == 0 and a.shape != (0,):
        body = "[]"
        suffix.insert(0, f"size={tuple(a.shape)}")
    elif a.size == 0:
        body = "[]"
    else:
        formatter = {"float_kind": _float_formatter(a)} if a.dtype.kind == "f" else None
        body = np.array2string(a, separator=", ", prefix="tensor(", formatter=formatter, threshold=1000,
                               edgeitems=3, max_line_width=80)
    if t.dtype not in _IMPLICIT_DTYPES:
        suffix.append(f"dtype={t.dtype}")
    if t._grad_fn is not None:
        suffix.append(f"grad_fn=<{t._grad_fn.name()}>")
    elif t.requires_grad:
        suffix.append("requires_grad=True")
    return "tensor(" + ", ".join([body] + suffix) + ")"
