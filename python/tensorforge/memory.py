"""Host memory held by tensorforge: the buffer cache behind numpy arrays (see _host_cache.py).

A training step frees and allocates the same large buffers every step; the cache keeps the freed
ones (blocks of 128 KiB and more) for the next step, up to a limit. Like torch.cuda's caching
allocator controls, for the host:

    tensorforge.memory.empty_cache()          hand every cached free block back to the system
    tensorforge.memory.set_cache_limit(mb)    keep at most `mb` MiB of free blocks (0: keep none)
    tensorforge.memory.memory_stats()         live / cached blocks and bytes, hits, misses, limit
    tensorforge.memory.cache_installed()      whether numpy allocates through the cache

TENSORFORGE_HOST_CACHE_MB sets the limit at import (0 leaves numpy's own allocator in place).
"""
from . import _C


def empty_cache():
    """Returns every cached free block to the system; arrays in use are not touched."""
    _C.host_cache_release()


def set_cache_limit(mb):
    """Keeps at most `mb` MiB of free blocks for reuse (blocks beyond it are released now)."""
    if isinstance(mb, bool) or not isinstance(mb, (int, float)) or not mb >= 0:
        raise ValueError(f"set_cache_limit: mb must be a number of MiB >= 0, got {mb!r}")
    _C.host_cache_set_limit(int(mb * (1 << 20)))


def memory_stats():
    """A dict: live_blocks/live_bytes (large blocks in use), cached_blocks/cached_bytes (free blocks
    kept), hits/misses (large allocations served from the cache / from the system), limit_bytes."""
    return dict(_C.host_cache_stats())


def cache_installed():
    """Whether numpy's data allocator in this process is tensorforge's cache."""
    try:
        from numpy._core.multiarray import get_handler_name
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import get_handler_name
    return get_handler_name() == "tensorforge_host_cache"
