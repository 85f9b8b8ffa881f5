"""Adagrad (PyTorch's formula): per-element learning rates from the running sum of squared gradients.

    g = -grad if maximize else grad;   g += weight_decay * p
    clr = lr / (1 + (step - 1) * lr_decay)
    sum += g * g;   p -= clr * g / (sqrt(sum) + eps)
The sum starts at initial_accumulator_value.
"""
import numpy as np

from .._backend import xp
from ..tensor import make
from .optimizer import Optimizer, increment_step


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False):
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize)
        super().__init__(params, defaults)

    def add_param_group(self, param_group):
        """Adds the group and creates its state at once, as PyTorch does (the sum's initial value)."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for p in group["params"]:
            state = self.state[p]
            if not state:
                state["step"] = make(np.zeros((), np.float32))
                state["sum"] = make(xp(p._data).full_like(p._data, group["initial_accumulator_value"]))

    def _check_group(self, group):
        for name in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            if not 0.0 <= group[name]:
                raise ValueError(f"Invalid {name} value: {group[name]}")

    def _step(self):
        for gi, group in enumerate(self.param_groups):
            lr, lr_decay, eps, wd = group["lr"], group["lr_decay"], group["eps"], group["weight_decay"]
            for p, g in self._grads(group, gi):
                d = p._data
                state = self.state[p]
                step = increment_step(state)
                if group["maximize"]:
                    g = -g
                if wd != 0:
                    g = g + wd * d
                clr = lr / (1 + (step - 1) * lr_decay)
                s = state["sum"]._data
                s += g * g
                d += (-clr * g) / (xp(d).sqrt(s) + eps)
                p._bump_version()
