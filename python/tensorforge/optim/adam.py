"""Adam and AdamW (PyTorch's torch.optim.Adam / AdamW, same arguments, state and formula).

By default (fused=None) every contiguous float32/float64 CPU parameter is updated by one call of
the fused multi-tensor kernel (tensorforge._C.adam_step: one pass over all parameters of all
groups); contiguous float32 CUDA parameters go to our fused CUDA kernel (tensorforge.cuda.adamw_step /
adam_step: one launch per group and step count). fused=False selects the plain array path below (the
reference the tests compare with, numpy or cupy), which also serves any parameter neither kernel takes
(float64 or non-contiguous on CUDA, amsgrad or maximize on CUDA).
"""
import numpy as np

from .. import _C
from .._backend import xp
from ..tensor import make
from .optimizer import Optimizer, increment_step


def adam_reference_step(p, g, m, v, vmax, *, lr, beta1, beta2, eps, weight_decay, step, decoupled_weight_decay,
                        amsgrad, maximize):
    """One Adam step on arrays in place, in their dtype, in the order of PyTorch's single-tensor path."""
    xpm = xp(p)
    if maximize:
        g = -g
    if weight_decay != 0:
        if decoupled_weight_decay:
            p *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * p
    w = p.dtype.type(1 - beta1)
    if abs(w) < 0.5:  # PyTorch's lerp_ takes its weight from the nearer end
        m += w * (g - m)
    else:
        m[...] = g - (g - m) * (1 - w)
    v *= beta2
    v += (1 - beta2) * g * g
    if amsgrad:
        xpm.maximum(vmax, v, out=vmax)
        v = vmax
    step_size = lr / (1 - beta1 ** step)
    bc2_sqrt = (1 - beta2 ** step) ** 0.5
    p += (-step_size * m) / (xpm.sqrt(v) / bc2_sqrt + eps)


def _fusable(p, g):
    d = p._data
    return (type(d) is np.ndarray and d.dtype in (np.float32, np.float64) and d.flags.c_contiguous
            and d.flags.writeable and type(g) is np.ndarray)


def _cuda_fusable(p, g, group):
    """Our fused CUDA Adam/AdamW kernel takes contiguous float32 CUDA params (no amsgrad, no maximize)."""
    d = p._data
    return (xp(d) is not np and d.dtype == np.float32 and d.flags.c_contiguous and not group["amsgrad"]
            and not group["maximize"])


def _cuda_steps(groups, batches):
    """One launch of tensorforge.cuda.adamw_step / adam_step per (group, step) batch of CUDA params."""
    from .. import cuda

    for (gi, step), (tensors, ps, gs, ms, vs) in batches.items():
        group = groups[gi]
        beta1, beta2 = group["betas"]
        kernel = cuda.adamw_step if group["decoupled_weight_decay"] else cuda.adam_step
        kernel(ps, gs, ms, vs, lr=group["lr"], step=step, beta1=beta1, beta2=beta2, eps=group["eps"],
               weight_decay=group["weight_decay"])
        for p in tensors:
            p._bump_version()


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, fused=None, decoupled_weight_decay=False):
        # foreach is accepted for PyTorch compatibility; the fused kernel is always multi-tensor.
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_group(self, group):
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= beta1 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {beta1} (must be in [0, 1))")
        if not 0.0 <= beta2 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {beta2} (must be in [0, 1))")
        if not 0.0 <= wd:
            raise ValueError(f"Invalid weight_decay value: {wd}")

    def _state(self, p, amsgrad):
        state = self.state[p]
        if not state:
            state["step"] = make(np.zeros((), np.float32))
            state["exp_avg"] = make(xp(p._data).zeros_like(p._data))
            state["exp_avg_sq"] = make(xp(p._data).zeros_like(p._data))
        if amsgrad and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = make(xp(p._data).zeros_like(p._data))
        return state

    def _step(self):
        batches = {}  # dtype -> lists for one fused call
        cuda_batches = {}  # (group, step) -> lists for one fused CUDA launch
        hypers, hyper_of = [], {}
        for gi, group in enumerate(self.param_groups):
            beta1, beta2 = group["betas"]
            args = dict(lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                        weight_decay=group["weight_decay"], decoupled_weight_decay=group["decoupled_weight_decay"],
                        amsgrad=group["amsgrad"], maximize=group["maximize"])
            for p, g in self._grads(group, gi):
                state = self._state(p, group["amsgrad"])
                step = int(increment_step(state))
                vmax = state["max_exp_avg_sq"]._data if group["amsgrad"] else None
                if group["fused"] is not False and _cuda_fusable(p, g, group):
                    tensors, ps, gs, ms, vs = cuda_batches.setdefault((gi, step), ([], [], [], [], []))
                    tensors.append(p)
                    ps.append(p._data)
                    gs.append(g if g.flags.c_contiguous else xp(g).ascontiguousarray(g))
                    ms.append(state["exp_avg"]._data)
                    vs.append(state["exp_avg_sq"]._data)
                    continue
                if group["fused"] is False or not _fusable(p, g):
                    if group["fused"]:
                        raise RuntimeError("Adam(fused=True) needs contiguous float32/float64 CPU parameters or "
                                           "contiguous float32 CUDA parameters without amsgrad/maximize; "
                                           f"got a {type(p._data).__name__} of dtype {p._data.dtype}")
                    adam_reference_step(p._data, g, state["exp_avg"]._data, state["exp_avg_sq"]._data, vmax,
                                        step=step, **args)
                    p._bump_version()
                    continue
                key = (gi, step)
                if key not in hyper_of:
                    hyper_of[key] = len(hypers)
                    hypers.append(_C.AdamHyper(step=step, **args))
                tensors, ps, gs, ms, vs, vmaxs, index = batches.setdefault(p._data.dtype, ([], [], [], [], [], [], []))
                tensors.append(p)
                ps.append(p._data)
                gs.append(g if g.flags.c_contiguous else np.ascontiguousarray(g))
                ms.append(state["exp_avg"]._data)
                vs.append(state["exp_avg_sq"]._data)
                vmaxs.append(vmax)
                index.append(hyper_of[key])
        _cuda_steps(self.param_groups, cuda_batches)
        for tensors, ps, gs, ms, vs, vmaxs, index in batches.values():
            any_ams = any(x is not None for x in vmaxs)
            _C.adam_step(ps, gs, ms, vs, vmaxs if any_ams else None, hypers, index)
            for p in tensors:
                p._bump_version()


class AdamW(Adam):
    """Adam with decoupled weight decay (p *= 1 - lr * weight_decay before the Adam update)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         fused=fused, decoupled_weight_decay=True)
