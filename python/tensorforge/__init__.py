"""tensorforge: a deep-learning library whose hot kernels are hand-written C++ and CUDA."""
from ._version import __version__
from ._config import config, get_num_threads, set_num_threads, show_config

__all__ = ["__version__", "config", "get_num_threads", "set_num_threads", "show_config"]
