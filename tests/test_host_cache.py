"""The host buffer cache (csrc/cpu/memory/host_cache.h) as numpy's data allocator: large freed
buffers are reused, np.zeros still gives zeros from a reused dirty block, realloc keeps contents,
the byte limit and release are honoured, and small arrays are left to malloc."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tensorforge as tf  # installs the cache
from tensorforge import _C

BIG = 3 << 20  # bytes, well above the cache's smallest block


def handler_name(*array):
    try:
        from numpy._core.multiarray import get_handler_name
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import get_handler_name
    return get_handler_name(*array)


@pytest.fixture
def roomy_cache():
    old = _C.host_cache_stats()["limit_bytes"]
    _C.host_cache_set_limit(1 << 30)
    yield
    _C.host_cache_set_limit(old)


def test_installed_as_numpys_allocator():
    assert handler_name() == "tensorforge_host_cache"
    a = np.empty(BIG, np.uint8)
    assert handler_name(a) == "tensorforge_host_cache"


def test_a_freed_block_is_reused_and_zeros_come_back_zero(rng, roomy_cache):
    a = np.empty(BIG // 4, np.float32)
    a[:] = rng.standard_normal(a.size)
    where = a.ctypes.data
    hits = _C.host_cache_stats()["hits"]
    del a
    b = np.zeros(BIG // 4, np.float32)  # calloc: served from the cache, so it must be cleared
    assert b.ctypes.data == where
    assert _C.host_cache_stats()["hits"] == hits + 1
    assert not b.any()
    assert b.ctypes.data % 64 == 0


def test_small_arrays_bypass_the_cache():
    before = _C.host_cache_stats()
    small = [np.ones(1000, np.float64) for _ in range(10)]
    after = _C.host_cache_stats()
    assert (after["hits"], after["misses"]) == (before["hits"], before["misses"])
    assert all(s.sum() == 1000 for s in small)


@pytest.mark.parametrize("new_size", [BIG // 8 - 5, BIG // 8 + 1000, 2 * BIG, 100, 0])
def test_realloc_keeps_the_contents(rng, new_size):
    a = rng.standard_normal(BIG // 8)
    keep = a.copy()
    a.resize(new_size, refcheck=False)  # ndarray.resize reallocates in place
    m = min(new_size, keep.size)
    np.testing.assert_array_equal(a[:m], keep[:m])
    if new_size > keep.size:
        assert not a[keep.size:].any()  # numpy zero-fills the grown part


def test_limit_and_release(roomy_cache):
    arrays = [np.empty(BIG, np.uint8) for _ in range(3)]
    del arrays
    assert _C.host_cache_stats()["cached_bytes"] >= 3 * BIG
    _C.host_cache_set_limit(BIG)
    assert _C.host_cache_stats()["cached_bytes"] <= BIG
    _C.host_cache_release()
    stats = _C.host_cache_stats()
    assert stats["cached_bytes"] == 0 and stats["cached_blocks"] == 0
    _C.host_cache_set_limit(0)  # nothing is kept: a freed block goes back to the system
    a = np.empty(BIG, np.uint8)
    del a
    assert _C.host_cache_stats()["cached_bytes"] == 0
    with pytest.raises(ValueError, match="bytes must be >= 0"):
        _C.host_cache_set_limit(-1)


def test_public_controls(roomy_cache):
    assert tf.memory.cache_installed()
    arrays = [np.empty(BIG, np.uint8) for _ in range(2)]
    live = tf.memory.memory_stats()["live_bytes"]
    assert live >= 2 * BIG
    del arrays
    stats = tf.memory.memory_stats()
    assert stats["cached_bytes"] >= 2 * BIG and stats["live_bytes"] <= live - 2 * BIG
    tf.memory.set_cache_limit(BIG / 2**20)
    assert tf.memory.memory_stats()["limit_bytes"] == BIG
    assert tf.memory.memory_stats()["cached_bytes"] <= BIG
    tf.memory.empty_cache()
    assert tf.memory.memory_stats()["cached_bytes"] == 0
    for bad in (-1, "10", None, True, float("nan")):
        with pytest.raises(ValueError, match="mb must be a number of MiB >= 0"):
            tf.memory.set_cache_limit(bad)


def test_default_limit_follows_the_machine(monkeypatch):
    from tensorforge import _host_cache

    monkeypatch.setattr(os, "sysconf", lambda name: {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": (4 << 30) // 4096}[name])
    assert _host_cache.default_limit_mb() == 256  # 4 GiB machine: 1/16
    monkeypatch.setattr(os, "sysconf", lambda name: {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": (512 << 30) // 4096}[name])
    assert _host_cache.default_limit_mb() == _host_cache.DEFAULT_CAP_MB


def test_environment_switches_it_off_and_rejects_bad_values():
    code = "import tensorforge, numpy as np; from numpy._core.multiarray import get_handler_name; print(get_handler_name())"
    env = dict(os.environ, TENSORFORGE_HOST_CACHE_MB="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "default_allocator"
    env["TENSORFORGE_HOST_CACHE_MB"] = "lots"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "TENSORFORGE_HOST_CACHE_MB must be a whole number" in out.stderr


def test_arrays_survive_a_fork_and_the_child_allocates():
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    a = np.arange(BIG // 8, dtype=np.float64)
    pid = os.fork()
    if pid == 0:  # child: allocate and free through the cache, then exit without pytest's teardown
        ok = a[-1] == BIG // 8 - 1
        b = np.ones(BIG, np.uint8)
        ok = ok and b.sum() == BIG
        del b
        c = np.zeros(BIG, np.uint8)
        os._exit(0 if ok and not c.any() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
