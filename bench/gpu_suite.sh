#!/usr/bin/env bash
# The whole CUDA check on a machine with an NVIDIA GPU and no network, in under 10 minutes:
#   1. build + install tensorforge with TENSORFORGE_CUDA=ON for the local GPU's architecture only
#      (pip install --no-build-isolation --no-deps . against the machine's own pybind11,
#      scikit-build-core, cmake, ninja; falls back to a CMake developer build if pip fails);
#   2. the CUDA tests (tests/test_cuda_api.py, tests/test_cuda_kernels.py, and the device suite
#      tests/test_device.py: every op, layer, optimizer, the training loop and checkpoints on real
#      cupy CUDA tensors) against the installed package, failing if the kernel tests were skipped
#      (TENSORFORGE_EXPECT_GPU=1 makes the device suite fail rather than fall back to its stand-in);
#   3. optionally (GPU_SUITE_SANITIZE=1, the default) a few small kernel tests under
#      compute-sanitizer memcheck;
#   4. bench/bench_gpu.py: ours vs cuBLAS / torch fused AdamW / torch softmax and cross-entropy /
#      torch cuDNN conv2d (ResNet layers) /
#      torch scaled_dot_product_attention / copy bandwidth, one markdown table last, JSON into $OUT
#      (or bench/results/) as bench_gpu.json.
# Logs (build.log, tests.log, sanitize.log, bench.log) go to the same folder.
#
# Usage (from anywhere):  bash bench/gpu_suite.sh
# Environment: PYTHON (default python3), OUT (results folder), GPU_SUITE_SANITIZE=0 to skip
# memcheck, GPU_SUITE_QUICK=1 for a short benchmark, CUDA_ARCH to override the detected arch.
# Exit status: 0 when everything passed, else the number of failed stages.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
repo=$(pwd)
PY=${PYTHON:-python3}
results=${OUT:-$repo/bench/results}
mkdir -p "$results"
export PYTHONUNBUFFERED=1
t0=$(date +%s)
failed=0
stage() { echo; echo "== [$(( $(date +%s) - t0 ))s] $*"; }
fail() { echo "!! $*"; failed=$((failed + 1)); }

# ---- 0. the machine --------------------------------------------------------------------------------
stage "machine"
if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "nvidia-smi not found: this script needs a machine with an NVIDIA GPU"; exit 2
fi
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv \
    || { echo "nvidia-smi failed: no usable GPU"; exit 2; }
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d ' .')
# Hopper (9.0) builds the arch-specific sm_90a target: the wgmma GEMM needs it, the rest runs on it too.
default_arch="${cap}-real"
[[ "$cap" == "90" ]] && default_arch="90a-real"
arch=${CUDA_ARCH:-$default_arch}
if [[ ! "$arch" =~ ^[0-9]+[af]?(-real|-virtual)?$ ]]; then
    echo "could not read the GPU's compute capability (got '$cap'); set CUDA_ARCH, e.g. CUDA_ARCH=90-real"; exit 2
fi
echo "CUDA architecture to build: $arch"
command -v nvcc >/dev/null 2>&1 || export PATH="$PATH:/usr/local/cuda/bin"
nvcc --version | tail -n2 || echo "nvcc not on PATH (CMake will look for it)"
"$PY" - <<'EOF' || echo "(some Python packages are missing; the stages that need them will say so)"
import importlib, sys
print("python", sys.version.split()[0], sys.executable)
for name in ("numpy", "cupy", "torch", "pybind11", "scikit_build_core", "cmake", "ninja", "pytest"):
    try:
        m = importlib.import_module(name)
        print(f"  {name} {getattr(m, '__version__', '?')}")
    except Exception as e:  # noqa: BLE001
        print(f"  {name}: MISSING ({e.__class__.__name__}: {e})")
EOF

# ---- 1. build and install --------------------------------------------------------------------------
stage "build + install (TENSORFORGE_CUDA=ON, CMAKE_CUDA_ARCHITECTURES=$arch)"
jobs=$(nproc 2>/dev/null || echo 8)
pythonpath_for_tests=""
if TENSORFORGE_CUDA=ON CMAKE_BUILD_PARALLEL_LEVEL=$jobs \
    "$PY" -m pip install --no-build-isolation --no-deps --no-cache-dir -v \
        --config-settings=cmake.define.CMAKE_CUDA_ARCHITECTURES="$arch" \
        --config-settings=build-dir=build/gpu-suite . >"$results/build.log" 2>&1; then
    echo "pip install: ok"
else
    tail -n 40 "$results/build.log"
    echo "pip install failed (log above); falling back to a CMake developer build"
    if cmake -S . -B build/gpu-suite-dev -G Ninja -DTENSORFORGE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" \
            -DPython_EXECUTABLE="$(command -v "$PY")" >>"$results/build.log" 2>&1 \
        && cmake --build build/gpu-suite-dev -j "$jobs" >>"$results/build.log" 2>&1; then
        echo "CMake developer build: ok (tests import from $repo/python)"
        pythonpath_for_tests="$repo/python"
    else
        tail -n 40 "$results/build.log"
        fail "build failed; nothing else can run"
        exit "$failed"
    fi
fi
grep -iE "warning" "$results/build.log" | head -n 20 || true

# What nvcc made of the kernels (no GPU time needed): registers, spills, shared memory, and
# whether the GEMM's loads are 16 bytes wide (LDG.E.128 / LDS.128) and its math is FFMA.
so=$(PYTHONPATH="$pythonpath_for_tests" "$PY" -c "import tensorforge._C as m; print(m.__file__)" 2>/dev/null \
     | tail -n1)
if [ -n "$so" ] && command -v cuobjdump >/dev/null 2>&1; then
    {
        echo "== cuobjdump --dump-resource-usage $so"
        cuobjdump --dump-resource-usage "$so" 2>&1 | grep -E "Function|REG|STACK|SHARED|LOCAL" | head -n 80
        echo "== SASS instruction counts (all kernels)"
        cuobjdump --dump-sass "$so" 2>/dev/null | grep -oE "\b(LDG\.E\.128|LDG\.E|LDS\.128|LDS|STS\.128|STS|FFMA|LDL|STL)[A-Z0-9._]*" \
            | sort | uniq -c | sort -rn | head -n 20
    } >>"$results/build.log" 2>&1
    sed -n '/== cuobjdump --dump-resource-usage/,$p' "$results/build.log" | head -n 60
else
    echo "(cuobjdump or the built module not found; no resource report)"
fi

# Run everything from a scratch folder so `import tensorforge` finds the installed package, not
# the sources (which have no compiled module unless the fallback built one there).
scratch=$(mktemp -d)
cd "$scratch" || exit 1
export PYTHONPATH="${pythonpath_for_tests}${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PY" -c "
import tensorforge, tensorforge.cuda as c
tensorforge.show_config()
assert c.is_built(), 'the CUDA kernels were not built'
assert c.is_available(), f'no GPU visible to tensorforge (device_count={c.device_count()})'
"; then
    fail "tensorforge.cuda is not available after the build"
    exit "$failed"
fi

# ---- 2. tests ---------------------------------------------------------------------------------------
stage "CUDA tests"
TENSORFORGE_EXPECT_CUDA=1 TENSORFORGE_EXPECT_GPU=1 timeout 300 "$PY" -m pytest -q -rs -p no:cacheprovider "$repo/tests/test_cuda_api.py" \
    "$repo/tests/test_cuda_kernels.py" "$repo/tests/test_device.py" 2>&1 | tee "$results/tests.log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
    fail "CUDA tests failed (exit $rc)"
elif grep -qE "SKIPPED.*test_cuda_kernels.py.*(could not import|not built or no GPU)" "$results/tests.log"; then
    fail "kernel tests were skipped on a GPU machine (see the skip reasons above)"
fi

# ---- 3. memcheck on a few small cases ---------------------------------------------------------------
if [ "${GPU_SUITE_SANITIZE:-1}" = "1" ]; then
    stage "compute-sanitizer memcheck (small cases, one cudaMalloc per array)"
    san=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
    if [ -n "$san" ]; then
        TENSORFORGE_TEST_NO_CUPY_POOL=1 timeout 90 "$san" --tool memcheck --error-exitcode 99 \
            "$PY" -m pytest -q -x -p no:cacheprovider "$repo/tests/test_cuda_kernels.py" \
            -k "gemm_leading_dimensions or wgmma_gemm_leading_dims or gemm_batched_broadcast or gemm_k_zero or gemm_out_none or adam_matches_float64 or avg_pool2d_matches_float64 or attention_strided_blhe or softmax_cross_entropy_tail_rows or cross_entropy_out_of_range" \
            >"$results/sanitize.log" 2>&1
        rc=$?
        tail -n 15 "$results/sanitize.log"
        if [ "$rc" -eq 124 ]; then
            echo "(memcheck ran out of its 90 s; not counted as a failure)"
        elif [ "$rc" -ne 0 ]; then
            fail "compute-sanitizer memcheck reported errors (exit $rc, see sanitize.log)"
        fi
    else
        echo "compute-sanitizer not found; skipped"
    fi
fi

# ---- 4. benchmarks ----------------------------------------------------------------------------------
stage "benchmarks"
quick=()
[ "${GPU_SUITE_QUICK:-0}" = "1" ] && quick=(--quick)
timeout 270 "$PY" "$repo/bench/bench_gpu.py" "${quick[@]}" --json "$results/bench_gpu.json" 2>&1 \
    | tee "$results/bench.log"
rc=${PIPESTATUS[0]}
[ "$rc" -ne 0 ] && fail "benchmarks failed or timed out (exit $rc)"

stage "done: $failed failed stage(s); logs and JSON in $results"
rm -rf "$scratch"
exit "$failed"
