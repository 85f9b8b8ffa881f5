"""Activation functions as modules (ReLU, GELU, ...)."""
from .. import functional as F
from .module import Module


class _Elementwise(Module):
    """A stateless activation: forward applies `fn` with the module's keyword arguments."""

    fn = None
    arg_names = ()

    def __init__(self, *args, **kwargs):
        super().__init__()
        for name, value in zip(self.arg_names, args):
            kwargs.setdefault(name, value)
        kwargs.pop("inplace", None)
        unknown = set(kwargs) - set(self.arg_names)
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected arguments {sorted(unknown)}")
        self.kwargs = kwargs

    def forward(self, x):
        return type(self).fn(x, **self.kwargs)

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in self.kwargs.items())


def _activation(name, fn, arg_names=()):
    return type(name, (_Elementwise,), {"fn": staticmethod(fn), "arg_names": tuple(arg_names) + ("inplace",),
                                        "__doc__": f"Module form of nn.functional.{fn.__name__}.",
                                        "__module__": __name__})


ReLU = _activation("ReLU", F.relu)
ReLU6 = _activation("ReLU6", F.relu6)
GELU = _activation("GELU", F.gelu, ("approximate",))
Sigmoid = _activation("Sigmoid", F.sigmoid)
Tanh = _activation("Tanh", F.tanh)
SiLU = _activation("SiLU", F.silu)
Mish = _activation("Mish", F.mish)
LeakyReLU = _activation("LeakyReLU", F.leaky_relu, ("negative_slope",))
ELU = _activation("ELU", F.elu, ("alpha",))
Softplus = _activation("Softplus", F.softplus, ("beta", "threshold"))
LogSigmoid = _activation("LogSigmoid", F.logsigmoid)
Hardtanh = _activation("Hardtanh", F.hardtanh, ("min_val", "max_val"))
Softmax = _activation("Softmax", F.softmax, ("dim",))
LogSoftmax = _activation("LogSoftmax", F.log_softmax, ("dim",))
GLU = _activation("GLU", F.glu, ("dim",))
