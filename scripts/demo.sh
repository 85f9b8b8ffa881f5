#!/usr/bin/env bash
# Installs tensorforge with its demo extras (tqdm, matplotlib, torch and threadpoolctl for the benchmarks) and runs
# the demo: the MNIST CNN for one epoch on the real digits, then the short kernel benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet ".[demo]"
exec python3 examples/demo.py "$@"
