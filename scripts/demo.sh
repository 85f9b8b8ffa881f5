#!/usr/bin/env bash
# Installs tensorforge with its benchmark extras and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet ".[bench]"
exec python3 examples/demo.py "$@"
