"""Optimizer: the base class of every optimizer (PyTorch's torch.optim.Optimizer contract).

Parameter groups are dicts with the key 'params' (a list of leaf float Tensors) plus the
group's hyper-parameters; keys a group leaves out take the optimizer's defaults. Per-parameter
state lives in `self.state[param]` (a dict of Tensors). `state_dict()` has PyTorch's structure:
{'state': {index: {...}}, 'param_groups': [{..., 'params': [index, ...]}]}, parameters numbered
in group order, so a saved dict loads into a fresh optimizer over the same parameters and the
run continues exactly.
"""
import copy
from collections import defaultdict

import numpy as np

from ..autograd.grad_mode import enable_grad
from .._backend import check_same_device, device_of, to_device
from ..tensor import Tensor, make


def increment_step(state):
    """Adds one to state['step'] (a 0-d float32 Tensor, as PyTorch keeps it); returns the new count.
    (fill() of the Python value: numpy's in-place add on a 0-d array costs ~10x more.)"""
    counter = state["step"]._data
    step = counter.item() + 1
    counter.fill(step)
    return step


def _follow_param(state, param_array):
    """Moves a parameter's per-element state to the parameter's device (after model.to(device), the
    optimizer's state follows on its next step); the step counter stays on the CPU, like PyTorch's."""
    for key, value in state.items():
        if key != "step" and isinstance(value, Tensor) and value._data.__class__ is not param_array.__class__:
            value._data = to_device(value._data, device_of(param_array))


_SET_ERROR = ("optimizer parameters need to be organized in ordered collections, but the ordering of tensors in "
              "sets will change between runs. Please use a list instead.")


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            "but got a Tensor")
        if isinstance(params, set):
            raise TypeError(_SET_ERROR)
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines) + "\n)"

    # ---- groups ---------------------------------------------------------------------------
    def _check_group(self, group):
        """Raises ValueError for hyper-parameters out of range (each optimizer overrides)."""

    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(_SET_ERROR)
        else:
            params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but params[{i}] is a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"can't optimize a non-leaf Tensor (params[{i}])")
            if not p.is_floating_point():
                raise TypeError(f"optimizer can only optimize floating-point Tensors, params[{i}] has dtype {p.dtype}")
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError("optimizer contains a parameter group with duplicate parameters: a parameter is listed "
                             "twice")
        group = dict(param_group, params=params)
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if seen & set(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self._check_group(group)
        self.param_groups.append(group)

    # ---- gradients ------------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad._data[...] = 0
                    p.grad._bump_version()

    def _grads(self, group, group_index):
        """(param, grad array) for the params of a group that have a gradient, checked."""
        out = []
        for i, p in enumerate(group["params"]):
            if p.grad is None:
                continue
            g = p.grad._data
            if g.shape != p._data.shape:
                raise RuntimeError(f"param_groups[{group_index}]['params'][{i}]: gradient has shape {tuple(g.shape)} "
                                   f"but the parameter has shape {tuple(p._data.shape)}")
            if g.dtype != p._data.dtype:
                raise RuntimeError(f"param_groups[{group_index}]['params'][{i}]: gradient has dtype {g.dtype} "
                                   f"but the parameter has dtype {p._data.dtype}")
            if g.__class__ is not p._data.__class__:
                check_same_device(p._data, g)
            state = self.state.get(p)
            if state:
                _follow_param(state, p._data)
            out.append((p, g))
        return out

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._step()
        return loss

    def _step(self):
        raise NotImplementedError

    # ---- state ----------------------------------------------------------------------------
    def state_dict(self):
        """PyTorch's structure; the state Tensors are references (copy or save them to keep them)."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        groups, saved_groups = self.param_groups, state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups but the optimizer has "
                             f"{len(groups)}")
        for i, (g, s) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(f"loaded state dict contains a parameter group ({i}) with {len(s['params'])} "
                                 f"parameters but the optimizer's group has {len(g['params'])}")
        by_index = {}
        for g, s in zip(groups, saved_groups):
            by_index.update(zip(s["params"], g["params"]))
        self.state = defaultdict(dict)
        for key, values in state_dict["state"].items():
            if key not in by_index:
                raise ValueError(f"loaded state dict has state for parameter {key}, which no group lists")
            p = by_index[key]
            self.state[p] = {k: self._loaded_value(p, k, v) for k, v in values.items()}
        self.param_groups = [dict(copy.deepcopy({k: v for k, v in s.items() if k != "params"}), params=g["params"])
                             for g, s in zip(groups, saved_groups)]

    @staticmethod
    def _loaded_value(param, key, value):
        """A private copy of a saved state value; per-element state takes the parameter's dtype."""
        if isinstance(value, Tensor):
            arr = value._data
        elif isinstance(value, np.ndarray):
            arr = value
        elif hasattr(value, "detach"):  # a torch tensor from a PyTorch checkpoint
            arr = value.detach().cpu().numpy()
        elif key == "step" and isinstance(value, (int, float)):  # older checkpoints keep the count as a number
            arr = np.asarray(value, np.float32)
        else:
            return copy.deepcopy(value)
        if key != "step":
            if arr.shape != param._data.shape:
                raise ValueError(f"loaded state '{key}' has shape {tuple(arr.shape)} but its parameter has shape "
                                 f"{tuple(param._data.shape)}")
            arr = to_device(arr.astype(param._data.dtype, copy=False), device_of(param._data))
        return make(arr.copy())
