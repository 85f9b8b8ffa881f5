#!/usr/bin/env bash
# Installs tensorforge with its demo extras (scikit-learn for the digits, tqdm, torch for the benchmark) and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet ".[demo]"
exec python3 examples/demo.py "$@"
