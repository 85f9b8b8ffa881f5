"""The CUDA softmax / log-softmax (csrc/cuda/softmax.cu) and fused cross-entropy (cross_entropy.cu) kernels'
own source, run on the CPU by csrc/cuda/emu/emu_softmax_ce.cpp with the stand-in <cuda_runtime.h>: one
std::thread per CUDA thread, warp shuffles and __syncthreads emulated. Checked against float64 references
with poisoned outputs over both launch shapes (a warp per row, a 512-thread block per row), odd sizes
(C = 1, 7, 33, 1000, 1025, 2000, 50257), -inf / +inf / large logits, ignore_index (some rows, every row),
class weights, label smoothing and out-of-range targets.

Built under AddressSanitizer + UBSan (out-of-bounds accesses) and ThreadSanitizer (a missing barrier
around the block reductions' shared memory shows as a race). Nothing here says how the kernels behave
on a GPU: tests/test_cuda_kernels.py does that, on one.
"""
import pytest

from cuda_emulation import ASAN_ENV, CXX, EMU_DIR, TSAN_ENV, built, compile_all, run

pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler (g++) found")


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    return compile_all(EMU_DIR / "emu_softmax_ce.cpp", tmp_path_factory.mktemp("emu_softmax_ce"))


def test_softmax_and_cross_entropy_emulated_under_asan_and_ubsan(builds):
    out = run(built(builds, "address,undefined"), env=ASAN_ENV)
    assert "ERROR: AddressSanitizer" not in out
    assert "C=50257" in out  # the language-model vocabulary case ran


def test_softmax_and_cross_entropy_emulated_under_tsan(builds):
    out = run(built(builds, "thread"), "quick", env=TSAN_ENV)
    assert "WARNING: ThreadSanitizer" not in out
