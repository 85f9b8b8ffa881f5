"""Neural-network building blocks; for now the functional namespace (Modules arrive with issue 7)."""
from . import functional, utils

__all__ = ["functional", "utils"]
