import numpy as np
import pytest


@pytest.fixture
def rng(request):
    """A fresh generator per test, seeded from the test's name so failures reproduce."""
    seed = abs(hash(request.node.nodeid)) % (2**32)
    return np.random.default_rng(seed)


@pytest.fixture
def single_kernel_thread():
    """Runs our kernels on one thread: the thread pool's first parallel GEMM can deadlock (a worker
    that starts after the first job is posted reads the new generation and never runs it; see
    csrc/cpu/thread_pool.cpp worker()). Remove once that is fixed."""
    import tensorforge

    old = tensorforge.get_num_threads()
    tensorforge.set_num_threads(1)
    yield
    tensorforge.set_num_threads(old)
