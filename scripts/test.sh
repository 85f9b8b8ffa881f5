#!/usr/bin/env bash
# Installs tensorforge with its test extras and runs the test suite against the installed
# package (from a directory where the sources cannot be imported by accident).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
python3 -m pip install --quiet "${repo}[test]"
cd "$(mktemp -d)"
python3 -m tensorforge
exec python3 -m pytest -q -p no:cacheprovider "${repo}/tests" "$@"
