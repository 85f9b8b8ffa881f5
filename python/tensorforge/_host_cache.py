"""Installs our host buffer cache (csrc/cpu/memory/host_cache.h) as numpy's data allocator at import,
so the large arrays a training step frees are reused by the next step instead of being page-faulted
in again. TENSORFORGE_HOST_CACHE_MB caps the free memory it keeps (default: 1/16 of the machine's
memory, at most 1024 MiB); 0 leaves numpy's own allocator. tensorforge.memory is the public control."""
import os

from . import _C

DEFAULT_CAP_MB = 1024


def default_limit_mb():
    """1/16 of physical memory, at most DEFAULT_CAP_MB (a training step of the example models keeps
    ~55 MiB of freed blocks; a larger model keeps more, up to the cap)."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return DEFAULT_CAP_MB
    return max(1, min(DEFAULT_CAP_MB, physical // 16 >> 20))


def install():
    """Installs the cache unless TENSORFORGE_HOST_CACHE_MB=0; returns whether it was installed."""
    raw = os.environ.get("TENSORFORGE_HOST_CACHE_MB")
    if raw is None:
        mb = default_limit_mb()
    else:
        try:
            mb = int(raw)
        except ValueError:
            mb = -1
        if mb < 0:
            raise ValueError(f"TENSORFORGE_HOST_CACHE_MB must be a whole number of MiB >= 0, got {raw!r}")
    if mb == 0:
        return False
    _C.host_cache_set_limit(mb << 20)
    return _C.install_host_cache()
