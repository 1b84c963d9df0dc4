#!/bin/sh
# Rebuild actor.wasm from actor.js with componentize-qjs (QuickJS), then commit both files.
# Needs node/npx; downloads componentize-qjs@0.4.5 from npm on first use. Takes ~2-3 s.
set -eu
cd "$(dirname "$0")"
WIT_SRC="../../../wit"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/js-echo-wit.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cp -r "$WIT_SRC"/. "$tmp"/
npx --yes componentize-qjs@0.4.5 --wit "$tmp" --js actor.js -n actor-world --sync -o actor.wasm
WASM_TOOLS="${WASM_TOOLS:-wasm-tools}"
if command -v "$WASM_TOOLS" >/dev/null 2>&1; then
  "$WASM_TOOLS" validate --features component-model actor.wasm
fi
ls -l actor.wasm
