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
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "csrc" / "cuda" / "emu" / "emu_conv_attention.cpp"
CXX = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")

pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler (g++) found")


def _cmd(exe, sanitizer):
    cmd = [CXX, "-std=c++17", "-O1", f"-fsanitize={sanitizer}", "-fno-omit-frame-pointer",
           "-Wall", "-Wextra", "-Wno-unknown-pragmas",
           f"-I{SRC.parent}", f"-I{ROOT / 'csrc' / 'include'}", str(SRC), "-o", str(exe), "-pthread"]
    if "undefined" in sanitizer:
        cmd.insert(4, "-fno-sanitize-recover=undefined")
    return cmd


SANITIZERS = ("address,undefined", "thread")


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """Both sanitizer builds, compiled concurrently (the compile dominates this file's time)."""
    d = tmp_path_factory.mktemp("emu_ca")
    procs = {}
    for san in SANITIZERS:
        exe = d / f"emu_ca_{san.split(',')[0]}"
        cmd = _cmd(exe, san)
        procs[san] = (exe, cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    out = {}
    for san, (exe, cmd, p) in procs.items():
        _, err = p.communicate()
        out[san] = (exe, cmd, p.returncode, err)
    return out


def build(builds, sanitizer):
    exe, cmd, rc, err = builds[sanitizer]
    if rc != 0:
        if "cannot find" in err and ("asan" in err or "tsan" in err or "ubsan" in err):
            pytest.skip(f"the {sanitizer} runtime is not installed: {err.strip()[-200:]}")
        pytest.fail(f"emulation build failed:\n{' '.join(cmd)}\n{err[-4000:]}")
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


def test_conv_pool_attention_emulated_under_asan_and_ubsan(builds):
    exe = build(builds, "address,undefined")
    out = run(exe, env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"})
    assert "ERROR: AddressSanitizer" not in out


def test_conv_pool_attention_emulated_under_tsan(builds):
    exe = build(builds, "thread")
    out = run(exe, "quick", env={"TSAN_OPTIONS": "halt_on_error=1"})
    assert "WARNING: ThreadSanitizer" not in out
