"""The CUDA kernels' own source, run on the CPU: csrc/cuda/emu/emu_kernels.cpp includes gemm_f32.cu,
gemm_tensor_core.cu (tf32 / bf16 mma.sync, emulated per warp from the PTX fragment tables) and
adamw.cu with a stand-in <cuda_runtime.h> (one std::thread per CUDA thread, a real barrier for
__syncthreads) and checks them against float64 references, with NaN-poisoned outputs, odd
sizes, transposes, leading dimensions, misaligned pointers, batches and the grid split.

Built twice with g++ (tests/cuda_emulation.py): under AddressSanitizer + UBSan (out-of-bounds global-memory accesses, as
compute-sanitizer's memcheck would see them) and under ThreadSanitizer (a missing or misplaced
__syncthreads shows as a data race on the shared-memory tiles). This runs on every machine with
g++, GPU or not. It checks the indexing and synchronisation logic only: nothing about nvcc's code
or the speed on a GPU, which only tests/test_cuda_kernels.py and bench/gpu_suite.sh can tell.
"""

import pytest

from cuda_emulation import ASAN_ENV, CXX, EMU_DIR, TSAN_ENV, built, compile_all, run

pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler (g++) found")


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    return compile_all(EMU_DIR / "emu_kernels.cpp", tmp_path_factory.mktemp("emu"))


def test_kernels_emulated_under_asan_and_ubsan(builds):
    out = run(built(builds, "address,undefined"), env=ASAN_ENV)
    assert "ERROR: AddressSanitizer" not in out


def test_kernels_emulated_under_tsan(builds):
    out = run(built(builds, "thread"), "quick", env=TSAN_ENV)
    assert "WARNING: ThreadSanitizer" not in out
