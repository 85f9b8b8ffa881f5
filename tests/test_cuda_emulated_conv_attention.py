"""The CUDA conv2d, pooling and attention kernels' own source, run on the CPU (no GPU needed).

csrc/cuda/emu/emu_conv_attention.cpp includes conv2d_*.cu, pool2d.cu and attention_*.cu with the
stand-in <cuda_runtime.h> of csrc/cuda/emu (one std::thread per CUDA thread, a real barrier for
__syncthreads, CAS atomics) and checks every kernel against float64 references written from the
definitions, with NaN-poisoned outputs and small odd sizes: padding, stride, dilation, groups,
depthwise, split-k; ceil-mode / padded / dilated pooling; causal, additive-mask and boolean-mask
attention with L != S and head dims that are not powers of two.

Built with g++ under ASan + UBSan (all cases) and TSan (the quick set). This checks indexing,
bounds and barrier placement only; nothing about nvcc's code or the speed on a GPU.
"""

import pytest

from cuda_emulation import ASAN_ENV, CXX, EMU_DIR, TSAN_ENV, built, compile_all, run

pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler (g++) found")


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    return compile_all(EMU_DIR / "emu_conv_attention.cpp", tmp_path_factory.mktemp("emu_ca"))


def test_conv_pool_attention_emulated_under_asan_and_ubsan(builds):
    out = run(built(builds, "address,undefined"), env=ASAN_ENV)
    assert "ERROR: AddressSanitizer" not in out


def test_conv_pool_attention_emulated_under_tsan(builds):
    out = run(built(builds, "thread"), "quick", env=TSAN_ENV)
    assert "WARNING: ThreadSanitizer" not in out
