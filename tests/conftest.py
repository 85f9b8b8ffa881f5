import importlib.util
import os
import secrets
import zlib

import numpy as np
import pytest

# Fresh random inputs every run; the run's seed is printed in the header so a failure reproduces
# with TENSORFORGE_TEST_SEED=<seed>.
RUN_SEED = int(os.environ.get("TENSORFORGE_TEST_SEED", secrets.randbits(32)))


def pytest_report_header(config):
    return f"tensorforge test seed: TENSORFORGE_TEST_SEED={RUN_SEED}"


def pytest_terminal_summary(terminalreporter):
    """The seed again after failures (-q hides the header), so they reproduce."""
    if terminalreporter.stats.get("failed") or terminalreporter.stats.get("error"):
        terminalreporter.write_line(f"tensorforge test seed: TENSORFORGE_TEST_SEED={RUN_SEED}")


@pytest.fixture
def rng(request):
    """A generator seeded from the run's seed and the test's id."""
    return np.random.default_rng([RUN_SEED, zlib.crc32(request.node.nodeid.encode())])


# torch seeds its global generator from the OS at import, so a torch layer built inside a test (the
# reference module whose weights ours load) would differ from run to run and a failure would not
# reproduce from the printed seed.
_TORCH = __import__("torch") if importlib.util.find_spec("torch") is not None else None


@pytest.fixture(autouse=True)
def _seeded_global_generators(request):
    """tensorforge's and torch's global generators seeded from the run's seed and the test's id, so
    layers initialised inside a test (ours and torch's) and dropout masks reproduce too."""
    import tensorforge

    seed = zlib.crc32(f"{RUN_SEED}:{request.node.nodeid}".encode())
    tensorforge.manual_seed(seed)
    if _TORCH is not None:
        _TORCH.manual_seed(seed)


def _real_cuda():
    """True where cupy imports and tensorforge sees a GPU; tensorforge is imported only if cupy exists."""
    import importlib.util

    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy  # noqa: F401

        import tensorforge.cuda as tfc
        return tfc.is_available()
    except Exception:  # noqa: BLE001 - a broken cupy install means: no real CUDA here
        return False


REAL_CUDA = _real_cuda()


@pytest.fixture(params=["cpu", pytest.param("cuda", id="cuda" if REAL_CUDA else "cuda-standin")])
def device(request, monkeypatch):
    """"cpu", then "cuda": the real GPU where one is available, else the numpy-backed stand-in of
    tests/fake_cuda.py (test ids say cuda-standin), which catches numpy calls on device data and mixed
    devices but says nothing about the real CUDA kernels."""
    if request.param == "cuda" and not REAL_CUDA:
        if os.environ.get("TENSORFORGE_EXPECT_GPU") == "1":  # bench/gpu_suite.sh: a GPU run must not fall back
            pytest.fail("TENSORFORGE_EXPECT_GPU=1 but cupy or tensorforge.cuda.is_available() is not usable")
        import fake_cuda

        fake_cuda.install(monkeypatch)
    return request.param
