#!/usr/bin/env bash
# Builds the wheel (scripts/build_wheel.sh: pip wheel + auditwheel repair; TENSORFORGE_CUDA as for
# `pip install .`), installs it with its test extras into a fresh virtual environment and runs the
# test suite against it from a directory where the sources cannot be imported.
# TENSORFORGE_WHEEL=path/to.whl tests that wheel instead of building one. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
if [ -n "${TENSORFORGE_WHEEL:-}" ]; then
  wheel=$(cd "$(dirname "$TENSORFORGE_WHEEL")" && pwd)/$(basename "$TENSORFORGE_WHEEL")
else
  mkdir -p build
  bash scripts/build_wheel.sh | tee build/build_wheel.log
  wheel=$repo/$(tail -n1 build/build_wheel.log)
  # tests/test_cuda_api.py then checks that the wheel is the variant that was asked for
  case "$wheel" in */dist/cuda/*) want=1 ;; *) want=0 ;; esac
  export TENSORFORGE_EXPECT_CUDA=${TENSORFORGE_EXPECT_CUDA:-$want}
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== fresh venv: $(basename "$wheel")[test]"
t0=$SECONDS
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "${wheel}[test]"
echo "   installed in $((SECONDS - t0)) s"
mkdir "$work/run" && cd "$work/run"
"$work/venv/bin/python" -m tensorforge
bash "$repo/scripts/check_cpu_dispatch.sh" "$work/venv/bin/python"
# test_packaging.py checks that tensorforge was imported from the venv, not from the sources.
TENSORFORGE_EXPECT_INSTALLED_WHEEL=1 \
  "$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$repo/tests" "$@"
