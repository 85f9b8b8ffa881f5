"""tensorforge.nn: Module and the layers, functional, init, and Parameter (PyTorch's names)."""
from . import functional, init
from .modules import *  # noqa: F401,F403 - the layer classes
from .modules import __all__ as _modules_all
from .parameter import Parameter

__all__ = ["functional", "init", "Parameter"] + _modules_all
