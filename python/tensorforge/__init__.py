"""tensorforge: a deep-learning library whose hot kernels are hand-written C++ and CUDA."""
from ._version import __version__
from ._config import config, get_num_threads, set_num_threads, show_config
from ._dtype import bool_ as bool  # noqa: A001 - PyTorch's names
from ._dtype import double, dtype, float, float32, float64, int, int32, int64, long, uint8  # noqa: A001
from ._backend import device
from ._precision import get_float32_matmul_precision, set_float32_matmul_precision
from .tensor import Tensor
from . import _host_cache, _tensor_methods

_host_cache.install()
_tensor_methods.install()

from . import autograd, nn, optim  # noqa: E402
from . import cuda, data, datasets, memory, utils  # noqa: E402
from .serialization import load, load_file, save, save_file  # noqa: E402
from ._creation import (  # noqa: E402
    arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace, manual_seed, ones, ones_like,
    rand, rand_like, randint, randint_like, randn, randn_like, tensor, zeros, zeros_like)
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402
from .ops.elementwise import (  # noqa: E402
    abs, add, allclose, clamp, cos, div, eq, equal, erf, exp, ge, gelu, gt, isfinite, isinf, isnan, le, log,
    logical_not, lt, masked_fill, mul, ne, neg, pow, relu, rsqrt, sigmoid, sign, sin, sqrt, sub, tanh, where)
from .ops.matmul import matmul  # noqa: E402
from .ops.reduction import amax, amin, argmax, argmin, gather, max, mean, min, prod, std, sum, var  # noqa: E402
from .ops.shape import (  # noqa: E402
    cat, chunk, clone, expand, flatten, permute, reshape, split, squeeze, stack, transpose, unsqueeze)
from .ops.softmax import log_softmax, logsumexp, softmax  # noqa: E402
from .training import Model  # noqa: E402 - the Keras-style loop (tensorforge.training)

clip = clamp
concat = concatenate = cat
mm = bmm = matmul
divide, multiply, subtract = div, mul, sub


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(x):
    return x.numel()


def get_default_dtype():
    return float32


__all__ = [
    "__version__", "config", "show_config", "get_num_threads", "set_num_threads",
    "Tensor", "dtype", "device", "float32", "float64", "int64", "int32", "uint8", "bool", "float", "double",
    "long", "int", "autograd", "nn", "optim", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "empty", "rand", "randn", "randint", "arange",
    "linspace", "eye", "zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like",
    "randint_like", "manual_seed", "is_tensor", "numel", "get_default_dtype",
    "abs", "add", "allclose", "clamp", "clip", "cos", "div", "divide", "eq", "equal", "erf", "exp", "ge", "gelu",
    "gt", "isfinite", "isinf", "isnan", "le", "log", "logical_not", "lt", "masked_fill", "mul", "multiply", "ne",
    "neg", "pow", "relu", "rsqrt", "sigmoid", "sign", "sin", "sqrt", "sub", "subtract", "tanh", "where",
    "matmul", "mm", "bmm", "amax", "amin", "argmax", "argmin", "gather", "max", "mean", "min", "prod", "std",
    "sum", "var", "cat", "concat", "concatenate", "chunk", "clone", "expand", "flatten", "permute", "reshape",
    "split", "squeeze", "stack", "transpose", "unsqueeze", "log_softmax", "logsumexp", "softmax",
]
__all__ += ["Model", "training"]
