#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, and the host's integration tests, which build
# the test guest for wasm32-wasip2 and start their own redis-server processes on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "Adding the wasm32-wasip2 target"
  rustup target add wasm32-wasip2
fi

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing redis-server from Debian packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "error: redis-server is missing; install it (for example: sudo apt-get install redis-server)" >&2
    exit 1
  fi
fi

cargo test --workspace --locked "$@"
