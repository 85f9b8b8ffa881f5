#!/usr/bin/env bash
# Pre-fetches the real data sets (MNIST, Fashion-MNIST, Seattle house prices, the KJV Bible text) into the cache
# ($TENSORFORGE_DATA or ~/.cache/tensorforge) and checks that each loads; pass names to fetch only some.
# Uses this checkout when it has a dev build (python/tensorforge/_C*.so), else the installed tensorforge.
set -euo pipefail
cd "$(dirname "$0")/.."
if compgen -G "python/tensorforge/_C*.so" > /dev/null; then
    export PYTHONPATH="$(pwd)/python${PYTHONPATH:+:$PYTHONPATH}"
fi
exec python3 -m tensorforge.datasets fetch "$@"
