#!/bin/sh
# Rebuild actor.wasm from actor.wat with the WAT echo's build script, then commit both files.
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../../examples/wat_echo/build.sh" "$here"
