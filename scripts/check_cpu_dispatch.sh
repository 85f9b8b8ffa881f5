#!/usr/bin/env bash
# Runs an installed tensorforge under QEMU's user-mode emulation of older x86-64 CPUs, to show
# that the wheel's baseline runs where AVX does not exist and that the run-time dispatch picks
# the right GEMM microkernel: Nehalem (SSE4.2, no AVX: QEMU raises SIGILL on any AVX instruction)
# must run the baseline path, Haswell (AVX2+FMA, no AVX-512) the avx2 path. numpy 2 itself needs
# SSE4.2, so Nehalem is the oldest CPU this can be shown on with numpy; our baseline objects are
# checked for SSE2-only code by scripts/check_simd_objects.py.
# Usage: check_cpu_dispatch.sh PYTHON (a python with tensorforge and numpy installed).
# Installs Debian's qemu-user when missing (as root); skips on non-x86-64 or without it.
set -euo pipefail
py=${1:?usage: check_cpu_dispatch.sh PYTHON}
if [ "$(uname -m)" != x86_64 ]; then echo "CPU dispatch check skipped: not x86-64"; exit 0; fi
if ! command -v qemu-x86_64 >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user >/dev/null 2>&1 ; } ||
      { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user >/dev/null; }
  else
    echo "CPU dispatch check skipped: qemu-x86_64 not installed and cannot install it here"
    exit 0
  fi
fi
code='
import sys
import numpy as np
import tensorforge as tf
want = sys.argv[1]
got = tf.config()["simd_active"]
assert got == want, f"expected the {want} path, got {got}"
rng = np.random.default_rng()
for m, k, n in [(1, 1, 1), (33, 17, 5), (127, 64, 33), (7, 1000, 3)]:
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    ref = a.astype(np.float64) @ b
    err = np.linalg.norm((tf.tensor(a) @ tf.tensor(b)).numpy() - ref) / np.linalg.norm(ref)
    assert err < 1e-5, (m, k, n, err)
print(f"  {want}: GEMM matches float64 numpy")
'
for cpu_isa in Nehalem:baseline Haswell:avx2; do
  echo "== tensorforge on an emulated ${cpu_isa%%:*} (qemu-x86_64 -cpu ${cpu_isa%%:*})"
  qemu-x86_64 -cpu "${cpu_isa%%:*}" "$py" -c "$code" "${cpu_isa##*:}" 2>&1 | grep -v "TCG doesn't support"
done
echo "CPU dispatch check: baseline runs without AVX, avx2 is picked where AVX2 exists"
