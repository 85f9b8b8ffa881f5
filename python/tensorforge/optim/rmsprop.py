"""RMSprop (PyTorch's formula): alpha-smoothed squared gradients, optional centering and momentum.

    g = -grad if maximize else grad;   g += weight_decay * p
    square_avg = alpha * square_avg + (1 - alpha) * g * g
    centered:  grad_avg = lerp(grad_avg, g, 1 - alpha);  avg = sqrt(square_avg - grad_avg^2) + eps
    else:      avg = sqrt(square_avg) + eps
    momentum:  buf = momentum * buf + g / avg;  p -= lr * buf
    else:      p -= lr * g / avg
"""
import numpy as np

from .._backend import xp
from ..tensor import make
from .optimizer import Optimizer, increment_step


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 foreach=None, maximize=False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, foreach=foreach, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group):
        for name in ("lr", "eps", "momentum", "weight_decay", "alpha"):
            if not 0.0 <= group[name]:
                raise ValueError(f"Invalid {name} value: {group[name]}")

    def _step(self):
        for gi, group in enumerate(self.param_groups):
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            wd, momentum, centered = group["weight_decay"], group["momentum"], group["centered"]
            for p, g in self._grads(group, gi):
                d = p._data
                xpm = xp(d)
                state = self.state[p]
                if not state:
                    state["step"] = make(np.zeros((), np.float32))
                    state["square_avg"] = make(xpm.zeros_like(d))
                    if momentum > 0:
                        state["momentum_buffer"] = make(xpm.zeros_like(d))
                    if centered:
                        state["grad_avg"] = make(xpm.zeros_like(d))
                increment_step(state)
                if group["maximize"]:
                    g = -g
                if wd != 0:
                    g = g + wd * d
                sq = state["square_avg"]._data
                sq *= alpha
                sq += (1 - alpha) * g * g
                if centered:
                    ga = state["grad_avg"]._data
                    w = d.dtype.type(1 - alpha)
                    if abs(w) < 0.5:
                        ga += w * (g - ga)
                    else:
                        ga[...] = g - (g - ga) * (1 - w)
                    avg = xpm.sqrt(sq + -1 * ga * ga)
                else:
                    avg = xpm.sqrt(sq)
                avg += eps
                if momentum > 0:
                    buf = state["momentum_buffer"]._data
                    buf *= momentum
                    buf += g / avg
                    d += -lr * buf
                else:
                    d += (-lr * g) / avg
                p._bump_version()
