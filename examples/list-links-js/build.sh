#!/usr/bin/env bash
# Builds list_links_js.wasm (about 1.5 MiB: QuickJS with the script snapshotted in) from app.js.
# Needs Node.js and npm; installs the pinned toolchain from package.json on first use.
# Usage: examples/list-links-js/build.sh [OUTPUT.wasm]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/list_links_js.wasm}"
cd "$here"
if [ ! -x node_modules/.bin/componentize-qjs ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
# --sync: the non-async runtime (the host runs components synchronously).
node_modules/.bin/componentize-qjs --sync --wit ../../wit --world plugin --js app.js -o "$out"
