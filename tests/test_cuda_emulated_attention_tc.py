"""The tensor-core attention kernels' own source (attention_tc_forward.cu, attention_tc_backward.cu), run on
the CPU (no GPU needed).

csrc/cuda/emu/emu_attention_tc.cpp includes them with the stand-in <cuda_runtime.h> of csrc/cuda/emu (one
std::thread per CUDA thread, a real barrier for __syncthreads, mma.sync and warp shuffles emulated from the
PTX ISA's fragment tables) and checks o, lse, rowsum(dO * O), dq, dk and dv at tf32 and bf16 against float64
references on inputs rounded with frexp / ldexp, with NaN-poisoned outputs: L, S in {1, 7, 19, 33, 37, 45,
66, 70, 130} (one to three tiles, edges), L != S, causal with L < S and L > S, additive masks with -inf,
boolean masks with a fully masked query, head dims 17..128 (padded to 32 / 64 / 128), (B, L, H, E) views
and padded key rows; and which head dims / compute capabilities the tensor-core path takes.

Built with g++ under ASan + UBSan (all cases) and TSan (the quick set). This checks indexing, fragment
layouts, barrier placement and the numerics of the algorithm; nothing about nvcc's code or speed on a GPU.
"""

import pytest

from cuda_emulation import ASAN_ENV, CXX, EMU_DIR, TSAN_ENV, built, compile_all, run

pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler (g++) found")


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    return compile_all(EMU_DIR / "emu_attention_tc.cpp", tmp_path_factory.mktemp("emu_attn_tc"))


def test_attention_tc_emulated_under_asan_and_ubsan(builds):
    out = run(built(builds, "address,undefined"), env=ASAN_ENV)
    assert "ERROR: AddressSanitizer" not in out
    assert out.count("ok   attention_tc_backward dq") == 10


def test_attention_tc_emulated_under_tsan(builds):
    out = run(built(builds, "thread"), "quick", env=TSAN_ENV)
    assert "WARNING: ThreadSanitizer" not in out
