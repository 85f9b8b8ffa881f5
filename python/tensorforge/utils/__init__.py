"""tensorforge.utils: PyTorch's import paths; tensorforge.utils.data is tensorforge.data."""
import sys

from .. import data

sys.modules[__name__ + ".data"] = data

__all__ = ["data"]
