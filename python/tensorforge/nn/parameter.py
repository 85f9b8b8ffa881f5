"""nn.Parameter: a leaf Tensor that a Module registers as one of its trainable parameters."""
from ..tensor import Tensor


class Parameter(Tensor):
    """Parameter(data=None, requires_grad=True). Shares `data`'s memory (no copy), like PyTorch."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            from .._creation import empty

            data = empty(0)
        if isinstance(data, Tensor):
            data = data.detach()._data
        super().__init__(data, requires_grad=False)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        from ..tensor import _rebuild

        device = str(self.device) if self.is_cuda else None
        return (Parameter, (_rebuild(self.detach().numpy(force=True), False, device), self.requires_grad))


def is_parameter(obj):
    return isinstance(obj, Parameter)
