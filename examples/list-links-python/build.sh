#!/usr/bin/env bash
# Builds list_links_python.wasm (about 18 MiB: the CPython interpreter is inside) from app.py.
# Needs componentize-py 0.25.1: pip install componentize-py==0.25.1
# Usage: examples/list-links-python/build.sh [OUTPUT.wasm]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/list_links_python.wasm}"
if ! command -v componentize-py >/dev/null 2>&1; then
    echo "build.sh: componentize-py not found; install it: pip install componentize-py==0.25.1" >&2
    exit 1
fi
# The module (`app`) must not be called like the world (`plugin`).
componentize-py -d "$here/../../wit" -w plugin componentize -p "$here" app -o "$out"
