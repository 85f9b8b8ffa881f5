"""Graph nodes: Node (one per recorded op, single output) and the public custom Function API."""
from . import grad_mode


class Node:
    """The backward of one op. `next` holds one edge per differentiable input: the input's Node,
    the input itself when it is a leaf that requires grad, or None. `saved` are tensors the
    backward reads; their version numbers are checked before it runs. Subclasses implement
    backward(grad) -> tuple of gradients aligned with `next`, written in Tensor ops."""

    __slots__ = ("next", "saved", "versions", "hooks", "retained")
    is_view = False  # view nodes: in-place ops on their outputs would need the base's history

    def __init__(self, next_edges):
        self.next = next_edges
        self.saved = ()
        self.versions = ()
        self.hooks = None
        self.retained = None

    def save(self, *tensors):
        self.saved = tensors
        self.versions = tuple([t._vc[0] for t in tensors])

    def output(self, alias):
        """A saved output, re-attached to this node when the backward itself is being recorded."""
        if grad_mode.state.enabled:
            return alias._attached(self)
        return alias

    def release(self):
        self.saved = None

    def name(self):
        return type(self).__name__

    def __repr__(self):
        return f"<{self.name()}>"

    def backward(self, grad):
        raise NotImplementedError


class FunctionCtx(Node):
    """ctx of a custom Function: save_for_backward, saved_tensors, needs_input_grad, attributes."""

    __slots__ = ("fn", "needs_input_grad", "__dict__")

    def save_for_backward(self, *tensors):
        self.save(*tensors)

    @property
    def saved_tensors(self):
        return self.saved

    def name(self):
        return self.fn.__name__ + "Backward"

    def backward(self, grad):
        grads = self.fn.backward(self, grad)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != len(self.needs_input_grad):
            raise RuntimeError(f"function {self.fn.__name__}.backward returned {len(grads)} gradients, "
                               f"expected {len(self.needs_input_grad)} (one per forward argument)")
        return tuple(g for g, is_tensor in zip(grads, self._tensor_args) if is_tensor)


class Function:
    """Custom differentiable op, like torch.autograd.Function (single Tensor output):

        class Square(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x
            @staticmethod
            def backward(ctx, grad):
                (x,) = ctx.saved_tensors
                return 2 * x * grad
        y = Square.apply(x)
    """

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        from ..tensor import Tensor, edge

        tensor_args = [isinstance(a, Tensor) for a in args]
        ctx = FunctionCtx([edge(a) for a, t in zip(args, tensor_args) if t])
        ctx.fn = cls
        ctx._tensor_args = tensor_args
        ctx.needs_input_grad = tuple(t and a.requires_grad for a, t in zip(args, tensor_args))
        with grad_mode.no_grad():
            out = cls.forward(ctx, *args)
        if not isinstance(out, Tensor):
            raise TypeError(f"{cls.__name__}.forward must return a Tensor, got {type(out).__name__}")
        if grad_mode.state.enabled and any(ctx.needs_input_grad):
            ctx.next = tuple(ctx.next)
            out = out.detach()
            out._grad_fn = ctx
            out.requires_grad = True
        return out
