"""Fixtures that run a kernel test on every SIMD path this CPU can execute and on 1 and 2 threads
(import them into a test module: `from isa_threads import isa, threads`)."""
import pytest

import tensorforge
from tensorforge import _C

_ORDER = ["baseline", "avx2", "avx512"]
ISAS = [i for i in _ORDER if i in _C.compiled_isas() and _ORDER.index(i) <= _ORDER.index(_C.best_isa())]


@pytest.fixture(params=ISAS)
def isa(request):
    old = _C.active_isa()
    assert _C.set_active_isa(request.param) == request.param
    yield request.param
    _C.set_active_isa(old)


@pytest.fixture(params=[1, 2], ids=lambda n: f"{n}thr")
def threads(request):
    old = tensorforge.get_num_threads()
    tensorforge.set_num_threads(request.param)
    yield request.param
    tensorforge.set_num_threads(old)
