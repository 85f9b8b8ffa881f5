#!/usr/bin/env bash
# Builds the sdist and checks it: it must hold exactly the build inputs (csrc/, python/,
# CMakeLists.txt, pyproject.toml, README.md, LICENSE when there is one; the files git tracks
# there), and it must build from source in a clean venv where pip's build isolation installs only
# the documented build requirements ([build-system] requires: scikit-build-core, pybind11; plus
# CMake/Ninja from PyPI if the machine has none recent enough). The build is CPU-only
# (TENSORFORGE_CUDA=OFF unless set otherwise); the result must import and multiply matrices.
# Leaves the sdist in dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== sdist"
python3 -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet build
"$work/tools/bin/python" -m build --sdist --outdir "$work/sdist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
sdist=$(ls "$work"/sdist/*.tar.gz)
mkdir -p dist && cp "$sdist" dist/

tar tzf "$sdist" | sed 's|^[^/]*/||' | grep -v -e '/$' -e '^$' | sort >"$work/actual"
{ git ls-files csrc python CMakeLists.txt pyproject.toml README.md LICENSE; echo PKG-INFO; } | sort >"$work/expected"
if ! diff -u "$work/expected" "$work/actual"; then
  echo "check_sdist.sh: the sdist's files differ from the build inputs git tracks (- missing, + extra)" >&2
  exit 1
fi
echo "   $(basename "$sdist"): $(wc -l <"$work/actual") files, exactly the build inputs"

echo "== build from the sdist in a clean venv"
t0=$SECONDS
python3 -m venv "$work/venv"
TENSORFORGE_CUDA=${TENSORFORGE_SDIST_CUDA:-OFF} \
  "$work/venv/bin/python" -m pip wheel --quiet --no-deps -w "$work/wheel" "$sdist"
"$work/venv/bin/python" -m pip install --quiet "$work"/wheel/*.whl
echo "   built and installed in $((SECONDS - t0)) s"
cd "$work"
"$work/venv/bin/python" - <<'PY'
import numpy as np
import tensorforge as tf
tf.show_config()
assert tf.__file__.startswith(__import__("sys").prefix), tf.__file__
a, b = np.random.rand(33, 17).astype(np.float32), np.random.rand(17, 5).astype(np.float32)
out = (tf.tensor(a) @ tf.tensor(b)).numpy()
assert np.allclose(out, a @ b, rtol=1e-4, atol=1e-5)
print("check_sdist.sh: the sdist builds, installs and runs")
PY
