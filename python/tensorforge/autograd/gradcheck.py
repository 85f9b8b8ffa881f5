"""gradcheck: backward's Jacobian against central differences, both in float64. The inputs stay on their
device (CPU or CUDA); the Jacobians are assembled on the host."""
import numpy as np

from .._backend import xp


def _host64(a):
    """A flat float64 numpy copy of an array of either device (explicit .get() for cupy)."""
    a = a if xp(a) is np else a.get()
    return np.array(a, dtype=np.float64).reshape(-1)


class GradcheckError(RuntimeError):
    pass


def _as_tuple(x):
    return x if isinstance(x, (tuple, list)) else (x,)


def _float64_inputs(inputs):
    from ..tensor import Tensor, make

    out = []
    for x in inputs:
        if isinstance(x, Tensor):
            m = xp(x._data)
            c = make(m.array(x._data, dtype=np.float64, order="C") if x.is_floating_point()
                     else m.array(x._data, order="C"))
            c.requires_grad = x.requires_grad
            out.append(c)
        else:
            out.append(x)
    return out


def _outputs(fn, inputs):
    from ..tensor import Tensor

    outs = _as_tuple(fn(*inputs))
    return [o for o in outs if isinstance(o, Tensor) and o.is_floating_point()]


def _analytical(fn, inputs, diff_inputs, outputs):
    from . import grad as autograd_grad
    from ..tensor import make

    jac = [np.zeros((o.numel(), x.numel())) for x in diff_inputs for o in outputs]
    for oi, o in enumerate(outputs):
        if not o.requires_grad:
            continue
        for j in range(o.numel()):
            onehot = xp(o._data).zeros(o.numel(), o._data.dtype)
            onehot[j] = 1
            grads = autograd_grad([o], diff_inputs, [make(onehot.reshape(o.shape))], retain_graph=True,
                                  allow_unused=True)
            for xi, g in enumerate(grads):
                if g is not None:
                    jac[xi * len(outputs) + oi][j] = _host64(g._data)
    return jac


def _numerical(fn, inputs, diff_inputs, outputs, eps):
    jac = [np.zeros((o.numel(), x.numel())) for x in diff_inputs for o in outputs]
    # evaluated with grad mode on, so fn may itself call autograd.grad (second-order checks)
    for xi, x in enumerate(diff_inputs):
        flat = x._data.reshape(-1)
        for i in range(flat.size):
            orig = flat[i]
            flat[i] = orig + eps
            plus = [_host64(o._data) for o in _outputs(fn, inputs)]
            flat[i] = orig - eps
            minus = [_host64(o._data) for o in _outputs(fn, inputs)]
            flat[i] = orig
            for oi in range(len(outputs)):
                jac[xi * len(outputs) + oi][:, i] = (plus[oi] - minus[oi]) / (2 * eps)
    return jac


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """True when fn's gradients w.r.t. the inputs that require grad match central differences.

    Inputs are copied to float64 first. On a mismatch raises GradcheckError (or returns False when
    raise_exception=False) naming the input and output and the largest difference."""
    inputs = _float64_inputs(_as_tuple(inputs))
    diff_inputs = [x for x in inputs if getattr(x, "requires_grad", False)]
    if not diff_inputs:
        raise ValueError("gradcheck expects at least one input tensor with requires_grad=True")
    outputs = _outputs(fn, inputs)
    if not outputs:
        raise ValueError("gradcheck: fn returned no floating-point Tensor output")
    analytical = _analytical(fn, inputs, diff_inputs, outputs)
    numerical = _numerical(fn, inputs, diff_inputs, outputs, eps)
    for k, (a, n) in enumerate(zip(analytical, numerical)):
        if not np.allclose(a, n, rtol=rtol, atol=atol):
            xi, oi = divmod(k, len(outputs))
            diff = np.abs(a - n)
            msg = (f"Jacobian mismatch for output {oi} with respect to input {xi}: largest difference "
                   f"{diff.max():.3e} at {np.unravel_index(diff.argmax(), diff.shape)} "
                   f"(atol={atol}, rtol={rtol}).\nnumerical:\n{n}\nanalytical:\n{a}")
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True
