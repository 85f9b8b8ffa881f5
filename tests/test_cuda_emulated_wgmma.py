"""The sm_90a wgmma GEMM (csrc/cuda/gemm_wgmma.cu) run on the CPU: csrc/cuda/emu/emu_wgmma.cpp
includes the kernel's source with the stand-in <cuda_runtime.h> and emu/wgmma.h, which emulates
wgmma.mma_async (matrix descriptors, the m64nNk* accumulator layout, deferred execution until
wgmma.wait_group), the async proxy (shared-memory stores reach wgmma only through
fence.proxy.async) and dynamic shared memory, all from the PTX ISA and independently of the kernel.
It checks tf32 and bf16 against float64 on rounded inputs, with edges, transposes, leading
dimensions, alpha / beta, k = 0, batches and the grid split.

Built under ASan + UBSan and under TSan (tests/cuda_emulation.py). Then the same program is built
against deliberately broken copies of the kernel (a wrong descriptor offset, a missing fence or
wait, truncation instead of rounding, a misplaced accumulator or staging row), each of which must
fail: the check can tell a wrong kernel from a right one. None of this says anything about nvcc's
code or the speed on an H100; only tests/test_cuda_kernels.py and bench/gpu_suite.sh on one can.
"""
import re
import shutil
import subprocess

import pytest

from cuda_emulation import ASAN_ENV, CXX, EMU_DIR, ROOT, TSAN_ENV, built, compile_all, run

pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler (g++) found")

CUDA_DIR = ROOT / "csrc" / "cuda"
KERNEL = "gemm_wgmma.cu"
ROUNDING = "tensor_core_rounding.cuh"


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    return compile_all(EMU_DIR / "emu_wgmma.cpp", tmp_path_factory.mktemp("emu_wgmma"))


def test_wgmma_gemm_emulated_under_asan_and_ubsan(builds):
    out = run(built(builds, "address,undefined"), env=ASAN_ENV)
    assert "ERROR: AddressSanitizer" not in out
    assert "wgmma emulation:" not in out


def test_wgmma_gemm_emulated_under_tsan(builds):
    out = run(built(builds, "thread"), "quick", env=TSAN_ENV)
    assert "WARNING: ThreadSanitizer" not in out


# name: (file, regular expression, replacement); every pattern must match the current source.
BREAKS = {
    "descriptor SBO one row short": (
        KERNEL, r"static_cast<uint64_t>\(kSBO >> 4\)", "static_cast<uint64_t>((kSBO - 16) >> 4)"),
    "descriptor LBO doubled": (KERNEL, r"static_cast<uint64_t>\(kLBO >> 4\)", "static_cast<uint64_t>((2 * kLBO) >> 4)"),
    "no fence.proxy.async": (KERNEL, r"\n\s+fence_proxy_async\(\);", ""),
    "no wgmma.fence": (KERNEL, r"\n\s+wgmma_fence\(\);", ""),
    "wait_group 2 (a stage overwritten while read)": (KERNEL, r"wgmma_wait_group<1>\(\);", "wgmma_wait_group<2>();"),
    "no wait_group 0 before the epilogue": (KERNEL, r"\n\s+wgmma_wait_group<0>\(\);", ""),
    "bf16 truncated instead of rounded to nearest even": (
        ROUNDING, r"return \(u \+ 0x7fffu \+ \(\(u >> 16\) & 1u\)\) >> 16;", "return u >> 16;"),
    "tf32 truncated instead of rounded": (
        ROUNDING, r"return \(u \+ 0x1000u\) & 0xffffe000u;", "return u & 0xffffe000u;"),
    "accumulator rows g and g + 8 swapped": (
        KERNEL, r"16 \* warp \+ g \+ 8 \* \(\(i / 2\) % 2\);", "16 * warp + g + 8 * (1 - (i / 2) % 2);"),
    "staging rows reversed within a core matrix": (
        KERNEL, r"chunk \* kLBO \+ \(r % 8\) \* 16", "chunk * kLBO + (7 - r % 8) * 16"),
}


@pytest.fixture(scope="module")
def broken_builds(tmp_path_factory):
    """{name: (returncode, compiler stderr, exe)} of the emulation built against each broken copy."""
    root = tmp_path_factory.mktemp("wgmma_breaks")
    procs = {}
    for i, (name, (target, pattern, replacement)) in enumerate(BREAKS.items()):
        d = root / f"break{i}"
        d.mkdir()
        for f in (KERNEL, ROUNDING):
            shutil.copy(CUDA_DIR / f, d / f)
        text = (d / target).read_text()
        broken, count = re.subn(pattern, replacement, text)
        assert count > 0, f"break '{name}': pattern {pattern!r} not found in {target}"
        (d / target).write_text(broken)
        exe = d / "emu_wgmma"
        cmd = [CXX, "-std=c++17", "-O1", "-w", f"-DTF_WGMMA_KERNEL_SOURCE=\"{d / KERNEL}\"", f"-I{EMU_DIR}",
               f"-I{CUDA_DIR}", f"-I{ROOT / 'csrc' / 'include'}", str(EMU_DIR / "emu_wgmma.cpp"), "-o", str(exe),
               "-pthread"]
        procs[name] = (exe, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = {}
    for name, (exe, proc) in procs.items():
        _, err = proc.communicate()
        results[name] = (proc.returncode, err, exe)
    return results


@pytest.mark.parametrize("name", list(BREAKS))
def test_a_broken_kernel_fails_the_emulation(broken_builds, name):
    rc, err, exe = broken_builds[name]
    assert rc == 0, f"the broken copy '{name}' did not compile:\n{err[-3000:]}"
    r = subprocess.run([str(exe), "quick"], capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "ALL PASSED" not in r.stdout, (
        f"the emulation passed a kernel broken by '{name}':\n{r.stdout[-3000:]}")
