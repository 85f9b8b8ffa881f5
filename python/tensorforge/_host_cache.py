"""Installs our host buffer cache (csrc/cpu/memory/host_cache.h) as numpy's data allocator at import,
so the large arrays a training step frees are reused by the next step instead of being page-faulted
in again. TENSORFORGE_HOST_CACHE_MB caps the free memory it keeps (default 1024); 0 leaves numpy's
own allocator."""
import os

from . import _C


def install():
    """Installs the cache unless TENSORFORGE_HOST_CACHE_MB=0; returns whether it was installed."""
    raw = os.environ.get("TENSORFORGE_HOST_CACHE_MB", "1024")
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
