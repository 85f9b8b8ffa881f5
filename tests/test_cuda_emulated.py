"""The CUDA kernels' own source, run on the CPU: csrc/cuda/emu/emu_kernels.cpp includes gemm_f32.cu
and adamw.cu with a stand-in <cuda_runtime.h> (one std::thread per CUDA thread, a real barrier
for __syncthreads) and checks them against float64 references, with NaN-poisoned outputs, odd
sizes, transposes, leading dimensions, misaligned pointers, batches and the grid split.

Built twice with g++: under AddressSanitizer + UBSan (out-of-bounds global-memory accesses, as
compute-sanitizer's memcheck would see them) and under ThreadSanitizer (a missing or misplaced
__syncthreads shows as a data race on the shared-memory tiles). This runs on every machine with
g++, GPU or not. It checks the indexing and synchronisation logic only: nothing about nvcc's code
or the speed on a GPU, which only tests/test_cuda_kernels.py and bench/gpu_suite.sh can tell.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "csrc" / "cuda" / "emu" / "emu_kernels.cpp"
CXX = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")

pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler (g++) found")


def build(tmp_path, sanitizer):
    exe = tmp_path / f"emu_{sanitizer.split(',')[0]}"
    cmd = [CXX, "-std=c++17", "-O1", "-g", f"-fsanitize={sanitizer}", "-fno-omit-frame-pointer",
           "-Wall", "-Wextra", "-Wno-unknown-pragmas",
           f"-I{SRC.parent}", f"-I{ROOT / 'csrc' / 'include'}", str(SRC), "-o", str(exe), "-pthread"]
    if "undefined" in sanitizer:
        cmd.insert(5, "-fno-sanitize-recover=undefined")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        if "cannot find" in r.stderr and ("asan" in r.stderr or "tsan" in r.stderr or "ubsan" in r.stderr):
            pytest.skip(f"the {sanitizer} runtime is not installed: {r.stderr.strip()[-200:]}")
        pytest.fail(f"emulation build failed:\n{' '.join(cmd)}\n{r.stderr[-4000:]}")
    return exe


def run(exe, *args, env=None):
    r = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, **(env or {})))
    out = r.stdout + r.stderr
    if "unexpected memory mapping" in out or "FATAL: ThreadSanitizer" in out:
        pytest.skip(f"the sanitizer runtime cannot run on this kernel: {out.strip()[-200:]}")
    assert r.returncode == 0 and "ALL PASSED" in r.stdout, out[-6000:]
    assert "FAIL" not in r.stdout, out[-6000:]
    return out


def test_kernels_emulated_under_asan_and_ubsan(tmp_path):
    exe = build(tmp_path, "address,undefined")
    out = run(exe, env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"})
    assert "ERROR: AddressSanitizer" not in out


def test_kernels_emulated_under_tsan(tmp_path):
    exe = build(tmp_path, "thread")
    out = run(exe, "quick", env={"TSAN_OPTIONS": "halt_on_error=1"})
    assert "WARNING: ThreadSanitizer" not in out
