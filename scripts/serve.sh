#!/usr/bin/env bash
# Builds the connector component and the host, then serves the connector on 127.0.0.1:3000 with
# a SQLite store in data/. The first run writes data/efalia.toml with fresh development secrets
# and prints them once. Extra arguments go to `efalia-host serve` (see its --help).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "Adding the wasm32-wasip2 target"
  rustup target add wasm32-wasip2
fi

cargo rustc --locked --profile component --target wasm32-wasip2 -p efalia-onlyoffice --lib --crate-type cdylib
cargo build --release --locked -p efalia-host

target/release/efalia-host dev-config data/efalia.toml
exec target/release/efalia-host serve target/wasm32-wasip2/component/efalia_onlyoffice.wasm \
  --config data/efalia.toml --sqlite-path data/kv.sqlite3 "$@"
