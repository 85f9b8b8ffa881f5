"""Reverse-mode autograd: backward, grad, gradcheck, grad modes and custom Functions."""
from .engine import run_backward
from .function import Function, FunctionCtx, Node
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck


def _as_list(x):
    return [x] if not isinstance(x, (list, tuple)) else list(x)


def _grad_outputs(outputs, grad_outputs):
    from .._backend import xp
    from ..tensor import Tensor, make

    grads = []
    for i, (o, g) in enumerate(zip(outputs, grad_outputs)):
        if not o.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if o.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs (output {i} has shape "
                                   f"{tuple(o.shape)}); pass a gradient for it")
            g = make(xp(o._data).ones_like(o._data))
        elif not isinstance(g, Tensor):
            g = Tensor(g)
        if g.shape != o.shape:
            raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {tuple(g.shape)} and output[{i}] "
                               f"has a shape of {tuple(o.shape)}.")
        grads.append(g)
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulates the gradients of tensors (weighted by grad_tensors) into the leaves' .grad."""
    tensors = _as_list(tensors)
    grad_tensors = _as_list(grad_tensors) if grad_tensors is not None else [None] * len(tensors)
    grads = _grad_outputs(tensors, grad_tensors)
    run_backward(tensors, grads, create_graph if retain_graph is None else retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=None):
    """Gradients of outputs w.r.t. inputs, returned as a tuple (nothing is accumulated into .grad)."""
    outputs = _as_list(outputs)
    inputs = _as_list(inputs)
    grad_outputs = _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outputs)
    for i, x in enumerate(inputs):
        if not x.requires_grad:
            raise RuntimeError(f"One of the differentiated Tensors (input {i}) does not require grad")
    grads = _grad_outputs(outputs, grad_outputs)
    captured = run_backward(outputs, grads, create_graph if retain_graph is None else retain_graph, create_graph,
                            inputs=inputs)
    result = []
    for i in range(len(inputs)):
        g = captured.get(i)
        if g is None and not allow_unused:
            raise RuntimeError(f"One of the differentiated Tensors (input {i}) appears to not have been used in the "
                               "graph. Set allow_unused=True if this is the desired behavior.")
        if g is not None and g.shape != inputs[i].shape:
            g = g.expand(inputs[i].shape).contiguous()
        result.append(g)
    return tuple(result)


__all__ = ["Function", "FunctionCtx", "GradcheckError", "Node", "backward", "enable_grad", "grad", "gradcheck",
           "is_grad_enabled", "no_grad", "set_grad_enabled"]
