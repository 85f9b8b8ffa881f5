"""The Tensor class: an n-d array (numpy on the CPU, cupy on CUDA) plus its autograd state.

Public contract for the rest of the library:
  t._data          the numpy/cupy array (any strides; may be a view shared with other tensors)
  t.grad           None or a Tensor of t's shape and dtype, accumulated by backward()
  t._grad_fn       the Node that produced t (None for leaves)
  t._vc            version counter [int], shared by views; in-place ops bump it
  Tensor(array)    wraps a numpy/cupy array without copying (leaf, requires_grad=False)
Ops are attached as methods by _tensor_methods.py.
"""
import weakref

import numpy as np

from . import _dtype
from ._backend import device_of, is_array, xp
from .autograd.engine import run_backward

_ndarray = np.ndarray


class Tensor:
    __slots__ = ("_data", "requires_grad", "grad", "_grad_fn", "_vc", "_hooks", "__weakref__")
    __array_priority__ = 1000  # numpy scalars and arrays defer binary ops to Tensor

    def __init__(self, data, requires_grad=False):
        if isinstance(data, Tensor):
            data = data._data
        elif not is_array(data) or data.dtype not in _dtype._BY_NP:
            from ._creation import _to_array

            data = _to_array(data, None)
        self._data = data
        self.requires_grad = requires_grad
        self.grad = None
        self._grad_fn = None
        self._vc = [0]
        self._hooks = None

    # ---- construction helpers used by ops -------------------------------------------------
    def _new(self, data):
        """A fresh leaf wrapping `data` (no copy)."""
        return make(data)

    def _attached(self, node):
        """An alias of this (saved output) tensor that reports `node` as its grad_fn."""
        t = make(self._data, node)
        t._vc = self._vc
        return t

    def _bump_version(self):
        """Marks an in-place write to _data made outside Tensor methods (e.g. by an optimizer)."""
        self._vc[0] += 1

    # ---- metadata -------------------------------------------------------------------------
    @property
    def shape(self):
        return self._data.shape

    def size(self, dim=None):
        if dim is None:
            return self._data.shape
        return self._data.shape[dim]

    @property
    def dtype(self):
        return _dtype._BY_NP[self._data.dtype]

    @property
    def device(self):
        return device_of(self._data)

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    def numel(self):
        return self._data.size

    def element_size(self):
        return self._data.itemsize

    def is_floating_point(self):
        return self._data.dtype.kind == "f"

    def is_contiguous(self):
        return self._data.flags.c_contiguous

    @property
    def is_leaf(self):
        return self._grad_fn is None

    @property
    def grad_fn(self):
        return self._grad_fn

    @property
    def _version(self):
        return self._vc[0]

    @property
    def data(self):
        return self.detach()

    @data.setter
    def data(self, value):
        self._data = value._data if isinstance(value, Tensor) else value
        self._vc[0] += 1

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    __hash__ = object.__hash__

    # ---- conversion -----------------------------------------------------------------------
    def numpy(self, force=False):
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        if xp(self._data) is not np:
            if not force:
                raise _cuda_to_numpy_error(self)
            return self._data.get()
        return self._data

    def __array__(self, dtype=None, copy=None):
        if xp(self._data) is not np:
            raise _cuda_to_numpy_error(self)
        a = self._data
        return a if dtype is None else a.astype(dtype, copy=False)

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._data.reshape(()).item()

    def tolist(self):
        return self._data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data.reshape(()).item())

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __format__(self, spec):
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __repr__(self):
        from ._repr import tensor_repr

        return tensor_repr(self)

    def __reduce_ex__(self, protocol):
        # The values travel as a host array; a CUDA tensor comes back on its device, as in PyTorch.
        device = str(self.device) if self.is_cuda else None
        return (_rebuild, (self.detach().numpy(force=True), self.requires_grad, device))

    # ---- autograd -------------------------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        if self._grad_fn is not None and not requires_grad:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want to use a "
                               "computed variable in a subgraph that doesn't require differentiation use "
                               "var_no_grad = var.detach().")
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        if self._grad_fn is None:
            self.requires_grad = requires_grad
        return self

    def detach(self):
        t = make(self._data)
        t._vc = self._vc
        return t

    def detach_(self):
        self._grad_fn = None
        self.requires_grad = False
        return self

    def retain_grad(self):
        if self._grad_fn is None:
            if not self.requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return
        self._grad_fn.retained = weakref.ref(self)

    @property
    def retains_grad(self):
        return self._grad_fn is not None and self._grad_fn.retained is not None

    def register_hook(self, hook):
        """hook(grad) -> Tensor or None, called with this tensor's gradient before it is used."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._grad_fn is not None:
            if self._grad_fn.hooks is None:
                self._grad_fn.hooks = {}
            hooks = self._grad_fn.hooks
        else:
            if self._hooks is None:
                self._hooks = {}
            hooks = self._hooks
        return _HookHandle(hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        from .autograd import _grad_outputs, grad as autograd_grad

        gradient = _grad_outputs([self], [gradient])[0]
        if retain_graph is None:
            retain_graph = create_graph
        if inputs is not None:
            inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
            grads = autograd_grad([self], inputs, [gradient], retain_graph=retain_graph,
                                  create_graph=create_graph, allow_unused=True)
            for t, g in zip(inputs, grads):
                if g is not None:
                    t.grad = g if t.grad is None else t.grad + g
            return
        run_backward([self], [gradient], retain_graph, create_graph)


class _HookHandle:
    _next_id = 0

    def __init__(self, hooks, hook):
        _HookHandle._next_id += 1
        self.id = _HookHandle._next_id
        self.hooks = hooks
        hooks[self.id] = hook

    def remove(self):
        self.hooks.pop(self.id, None)


def _cuda_to_numpy_error(t):
    return TypeError(f"can't convert {t.device} device type tensor to numpy. Use Tensor.cpu() to copy the tensor "
                     "to host memory first.")


def _rebuild(array, requires_grad, device=None):
    t = Tensor(array)
    if device is not None:
        t = t.to(device)
    return t.requires_grad_(requires_grad) if requires_grad else t


_new_tensor = Tensor.__new__


def make(data, grad_fn=None):
    """Wraps an array as a Tensor without copying or checks; the fast path every op uses."""
    t = _new_tensor(Tensor)
    t._data = data
    t.requires_grad = grad_fn is not None
    t.grad = None
    t._grad_fn = grad_fn
    t._vc = [0]
    t._hooks = None
    return t


def edge(t):
    """The graph edge to input t: its Node, itself if it is a leaf that requires grad, else None."""
    fn = t._grad_fn
    if fn is not None:
        return fn
    return t if t.requires_grad else None

