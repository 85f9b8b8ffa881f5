"""Shared by the CUDA emulation tests: a program in csrc/cuda/emu that includes the kernels' .cu
sources with the stand-in <cuda_runtime.h> is compiled with g++ under ASan + UBSan and under TSan
(both builds at once: the compile dominates these tests' time) and run; it prints ALL PASSED."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EMU_DIR = ROOT / "csrc" / "cuda" / "emu"
CXX = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
SANITIZERS = ("address,undefined", "thread")
ASAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"}
TSAN_ENV = {"TSAN_OPTIONS": "halt_on_error=1"}


def _command(src, exe, sanitizer):
    cmd = [CXX, "-std=c++17", "-O1", f"-fsanitize={sanitizer}", "-fno-omit-frame-pointer",
           "-Wall", "-Wextra", "-Wno-unknown-pragmas",
           f"-I{EMU_DIR}", f"-I{ROOT / 'csrc' / 'include'}", str(src), "-o", str(exe), "-pthread"]
    if "undefined" in sanitizer:
        cmd.insert(4, "-fno-sanitize-recover=undefined")
    return cmd


def compile_all(src, out_dir):
    """{sanitizer: (exe, command, returncode, stderr)} for every sanitizer build of src."""
    procs = {}
    for san in SANITIZERS:
        exe = Path(out_dir) / f"{Path(src).stem}_{san.split(',')[0]}"
        cmd = _command(src, exe, san)
        procs[san] = (exe, cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    builds = {}
    for san, (exe, cmd, proc) in procs.items():
        _, err = proc.communicate()
        builds[san] = (exe, cmd, proc.returncode, err)
    return builds


def built(builds, sanitizer):
    """The executable of one build; skips when the sanitizer runtime is missing, fails on errors."""
    exe, cmd, rc, err = builds[sanitizer]
    if rc != 0:
        if "cannot find" in err and ("asan" in err or "tsan" in err or "ubsan" in err):
            pytest.skip(f"the {sanitizer} runtime is not installed: {err.strip()[-200:]}")
        pytest.fail(f"emulation build failed:\n{' '.join(cmd)}\n{err[-4000:]}")
    return exe


def run(exe, *args, env=None):
    """Runs an emulation program; its output must end in ALL PASSED with no FAIL line."""
    r = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, **(env or {})))
    out = r.stdout + r.stderr
    if "unexpected memory mapping" in out or "FATAL: ThreadSanitizer" in out:
        pytest.skip(f"the sanitizer runtime cannot run on this kernel: {out.strip()[-200:]}")
    assert r.returncode == 0 and "ALL PASSED" in r.stdout, out[-6000:]
    assert "FAIL" not in r.stdout, out[-6000:]
    return out
