"""tensorforge.nn: Module and the layers, functional, init, utils, and Parameter (PyTorch's names)."""
from . import functional, init, utils
from .modules import *  # noqa: F401,F403 - the layer classes
from .modules import __all__ as _modules_all
from .parameter import Parameter

__all__ = ["functional", "init", "utils", "Parameter"] + _modules_all
