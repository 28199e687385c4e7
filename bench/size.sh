#!/usr/bin/env bash
# Builds the component, prints its size, then the crates and symbols that take the most
# bytes in its core module.
#
# Usage: bash bench/size.sh [ROWS]   (ROWS: lines per table, default 25)
#
# The build is the one of scripts/serve.sh (`cargo rustc --profile component … --crate-type
# cdylib`) plus a wasm-ld link map. The map changes the final crate's flags, so the next build
# without it relinks that crate once.
# bench/size_breakdown.py groups the map's symbols by crate (needs python3, and c++filt from GNU
# binutils to demangle).
set -euo pipefail
cd "$(dirname "$0")/.."

rows=${1:-25}
component=target/wasm32-wasip2/component/efalia_onlyoffice.wasm
map=$PWD/target/size/efalia_onlyoffice.map
mkdir -p "$(dirname "$map")"

# `cargo rustc` passes the map option to the final link only.
cargo rustc --locked --profile component --target wasm32-wasip2 -p efalia-onlyoffice --lib \
  --crate-type cdylib -- -C link-arg=--Map="$map"

size=$(stat -c %s "$component")
echo "component: $size bytes ($((size / 1024)) KiB), $component"
echo
python3 bench/size_breakdown.py "$map" "$rows"
